// Set by the build (esbuild `define`); "dev" when running from source.
declare const __ZLU_VERSION__: string | undefined;
export const VERSION: string = typeof __ZLU_VERSION__ === 'string' ? __ZLU_VERSION__ : 'v0.0.0-dev';
