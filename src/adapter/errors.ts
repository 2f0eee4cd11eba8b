/**
 * Mapping client-node failures onto the port's ClusterError.
 *
 * client-node 2.x throws `ApiException {code, body}` where body is the response text (usually a
 * JSON-encoded metav1.Status). Its `message` embeds the response body and headers, so it is never
 * used here. Request bodies (which carry private keys) are never part of an error or a log line,
 * and any text taken from a response is redacted and truncated before it goes into a message.
 */
import { STATUS_CODES } from 'node:http';
import { ClusterError, NAMESPACE_TERMINATING } from '../cluster/port.ts';

/** The fields of a metav1.Status that matter here. */
export interface StatusLike {
  code?: number;
  reason?: string;
  message?: string;
  /** details.causes[].reason, e.g. NamespaceTerminating. */
  causes?: string[];
}

/** Reason used when the server did not send a Status (mirrors apimachinery's StatusReason). */
const DEFAULT_REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  406: 'NotAcceptable',
  409: 'Conflict',
  410: 'Expired',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

const PEM_BLOCK = /-----BEGIN [A-Z0-9 ]+-----[\s\S]*?(?:-----END [A-Z0-9 ]+-----|$)/g;
/** Long runs of base64: a Secret value echoed back by some component. */
const LONG_BASE64 = /[A-Za-z0-9+/_-]{160,}={0,2}/g;
const MAX_TEXT = 512;

/** Remove anything that could be key material and bound the length. */
export function redact(text: string, max = MAX_TEXT): string {
  const clean = text.replace(PEM_BLOCK, '[redacted]').replace(LONG_BASE64, '[redacted]');
  return clean.length > max ? `${clean.slice(0, max)}...` : clean;
}

/** A Status from an ApiException body (JSON text or an already parsed object). */
export function parseStatus(body: unknown): StatusLike | undefined {
  let value = body;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return undefined;
    }
  }
  if (value === null || typeof value !== 'object') return undefined;
  const v = value as Record<string, unknown>;
  const status: StatusLike = {};
  if (typeof v.code === 'number') status.code = v.code;
  if (typeof v.reason === 'string' && v.reason !== '') status.reason = v.reason;
  if (typeof v.message === 'string' && v.message !== '') status.message = v.message;
  const causes = (v.details as { causes?: unknown } | undefined)?.causes;
  if (Array.isArray(causes)) {
    const reasons = causes.map((c) => (c as { reason?: unknown } | null)?.reason).filter((r): r is string => typeof r === 'string');
    if (reasons.length) status.causes = reasons;
  }
  return status;
}

/** The HTTP status of an ApiException (or a Watch error, which carries statusCode). */
export function httpCode(err: unknown): number | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e.code === 'number') return e.code;
  if (typeof e.statusCode === 'number') return e.statusCode;
  return undefined;
}

/** Short text for a non-HTTP failure (network, timeout): message plus the cause's code. */
function transportText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  const causeCode =
    cause !== null && typeof cause === 'object' && typeof (cause as { code?: unknown }).code === 'string'
      ? ` (${(cause as { code: string }).code})`
      : '';
  return `${err.message}${causeCode}`;
}

/**
 * A ClusterError for a failed call. `op` names the call without any body, e.g.
 * "PATCH secrets/ns/name". Message: "PATCH secrets/ns/name: 409 Conflict: <status.message>".
 * Failures without an HTTP status (connection refused, timeouts) get code 0, reason TransportError.
 */
export function toClusterError(err: unknown, op: string): ClusterError {
  if (err instanceof ClusterError) return err;
  const code = httpCode(err);
  if (code === undefined) {
    return new ClusterError(0, 'TransportError', `${op}: ${redact(transportText(err))}`);
  }
  const status = parseStatus((err as { body?: unknown }).body);
  // A create in a namespace being deleted: 403 Forbidden with the cause NamespaceTerminating (the lifecycle
  // admission plugin), not a permission the operator lacks.
  const reason = code === 403 && status?.causes?.includes(NAMESPACE_TERMINATING) ? NAMESPACE_TERMINATING
    : status?.reason ?? DEFAULT_REASONS[code] ?? 'Unknown';
  const text = STATUS_CODES[code] ?? 'Error';
  const detail = status?.message !== undefined ? `: ${redact(status.message)}` : '';
  return new ClusterError(code, reason, `${op}: ${code} ${text}${detail}`);
}

/** One line for a log entry about an error of any kind. */
export function describeError(err: unknown): string {
  if (err instanceof ClusterError) return err.message;
  const code = httpCode(err);
  if (code !== undefined) return toClusterError(err, 'request').message;
  return redact(transportText(err));
}
