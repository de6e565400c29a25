/** The tool's own folder on the gateway: saved sysctls, boot copies, markers. */
export const STATE_DIR = "/etc/multiwan";
/** Live state the health monitor shares with the resources (design §9): lost on reboot, like the kernel's. */
export const RUN_DIR = "/run/multiwan";
/** One file per uplink the monitor watches: "up <epoch>" or "down <epoch>". */
export const HEALTH_STATE_DIR = `${RUN_DIR}/state`;
