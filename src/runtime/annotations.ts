// tsrun's own annotations (config.json "annotations"), read at create.
/** "true" or "false": run tsrun-init as PID 1 or not, whatever the default would be. */
export const INIT_ANNOTATION = 'run.tsrun.init';
/** Seconds between the SIGTERM to what is left once the main process exited and the SIGKILL. */
export const GRACE_ANNOTATION = 'run.tsrun.init.grace-seconds';
/** Seconds after a SIGTERM from outside before tsrun-init itself SIGKILLs the main
 *  process; unset, it never does (the caller owns the stop timeout). */
export const KILL_AFTER_ANNOTATION = 'run.tsrun.init.kill-after-seconds';
export const PGRP_ANNOTATION = 'run.tsrun.init.process-group';
export const DEFAULT_GRACE_SECONDS = '1';
/** Set by containerd's and CRI-O's CRI on every config ("sandbox" or "container"). */
export const CRI_CONTAINER_TYPE_ANNOTATION = 'io.kubernetes.cri.container-type';
