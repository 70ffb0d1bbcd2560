// The narrow view of Tencent Cloud that the drain evidence reads: CLB and Cloud Monitor, read-only.
// Type-only: importing it loads no SDK code (the SDK is a lazily compiled asset, see tencent.ts).
import type { ConnPoint, ListenerSettings, TargetReading } from '../core/evidence.js';

/** Where credentials come from: `auto` tries the environment, then the profile file, then TKE's OIDC. */
export const CREDENTIAL_MODES = ['auto', 'env', 'profile', 'oidc', 'cvm-role', 'off'] as const;
export type CredentialMode = (typeof CREDENTIAL_MODES)[number];

export interface CloudFlags {
  credentials: CredentialMode;
  /** --region, else TENCENTCLOUD_REGION, else the cluster's nodes. */
  region?: string;
  /** A domain suffix (internal.tencentcloudapi.com) or a URL used for every service (a proxy, a test double). */
  endpoint?: string;
}

export interface LoadBalancerInfo {
  id: string;
  /** OPEN (public) or INTERNAL (private): decides the Cloud Monitor namespace. */
  type: string;
  vips: string[];
  vpcId?: string;
}

export interface ConnQuery {
  namespace: string;
  periodSeconds: number;
  /** One instance's dimensions, e.g. vip, vpcId, loadBalancerPort, protocol, lanIp, port. */
  dimensions: Record<string, string>;
}

export interface Cloud {
  readonly region: string;
  /** Which provider gave the credentials (never the credentials themselves). */
  readonly credentialSource: string;
  loadBalancers(ids: string[]): Promise<LoadBalancerInfo[]>;
  listeners(lbId: string): Promise<ListenerSettings[]>;
  /** Targets of every listener of the CLB, filtered to these IPs, with health merged in. */
  targets(lbId: string, ips: string[]): Promise<TargetReading[]>;
  /** The smallest ConNum period (seconds) the namespace offers. */
  conNumPeriod(namespace: string): Promise<number>;
  /** ConNum maxima per instance, in the same order as the queries. */
  conNum(queries: ConnQuery[], from: Date, to: Date): Promise<ConnPoint[][]>;
}

/** An error the Tencent Cloud API answered (or the network gave), in one line. */
export class CloudApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly requestId?: string,
  ) {
    super(message);
  }
}
