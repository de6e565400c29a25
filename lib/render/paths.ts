/** The tool's own folder on the gateway: saved sysctls, boot copies, markers. */
export const STATE_DIR = "/etc/multiwan";
