/**
 * YAML double-quoted scalars for the yaml and k8s formats. JSON string escapes are all valid YAML
 * escapes; on top of JSON, YAML forbids some characters raw (DEL, C1 controls, U+FFFE/U+FFFF), and
 * YAML 1.1 readers treat NEL, LS and PS as line breaks, so those are escaped as well.
 */
const NOT_RAW_IN_YAML = /[\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff]/g;

export function yamlString(value: string): string {
  return JSON.stringify(value).replace(
    NOT_RAW_IN_YAML,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/**
 * Plain keys that YAML readers turn into booleans or null (YAML 1.1's y/n/yes/no/on/off, and the core
 * schema's true/false/null). Secret keys are upper case, so only these spellings can occur.
 */
const RESERVED_PLAIN_KEYS = new Set(['Y', 'N', 'YES', 'NO', 'ON', 'OFF', 'TRUE', 'FALSE', 'NULL']);

/** A mapping key: plain when it reads back as the same string, quoted otherwise. */
export function yamlKey(key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) && !RESERVED_PLAIN_KEYS.has(key.toUpperCase()) ? key : yamlString(key);
}
