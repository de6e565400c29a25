// Secret inputs reach a provider wrapped in Pulumi's secret signature
// (design §3). We unwrap only at the point of use and hand the wrapped value
// back in outputs, so the state keeps ciphertext only.
export const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

export function isSecret(value: unknown): value is { value: unknown } {
  return typeof value === "object" && value !== null && (value as Record<string, unknown>)[SECRET_SIG_KEY] === SECRET_SIG;
}

export function unwrapSecret<T = unknown>(value: unknown): T {
  return (isSecret(value) ? value.value : value) as T;
}

/** Deep-unwraps every secret (for comparing values, never for output). */
export function reveal(value: unknown): unknown {
  if (isSecret(value)) return reveal(value.value);
  if (Array.isArray(value)) return value.map(reveal);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, reveal(v)]));
  }
  return value;
}
