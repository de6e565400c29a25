/** The tool's own folder on the gateway: saved sysctls, boot copies, markers. */
export const STATE_DIR = "/etc/multiwan";
/** Each resource's boot copy (its apply script), re-run after a reboot or a link flap. */
export const BOOT_DIR = `${STATE_DIR}/apply.d`;
/**
 * Each resource's remove script, written before its apply changes anything:
 * the box's own record of what it carries, so GatewayHost's removal can
 * undo a resource that an interrupted run applied but never recorded. With
 * the boot copies, also the proof that an nft table or iptables chain of our
 * name is ours (issue 15).
 */
export const UNDO_DIR = `${STATE_DIR}/remove.d`;
/** Live state the health monitor shares with the resources (design §9): lost on reboot, like the kernel's. */
export const RUN_DIR = "/run/multiwan";
/** One file per uplink the monitor watches: "up <epoch>" or "down <epoch>". */
export const HEALTH_STATE_DIR = `${RUN_DIR}/state`;
/**
 * The desired weight of each uplink ("<uplink> <weight>" per line), written by
 * MultipathDefaultRoute: the health monitor reads it when it rebuilds the
 * route, so a weight change is one resource's update, outage or not.
 */
export const WEIGHTS_FILE = `${STATE_DIR}/weights.conf`;
