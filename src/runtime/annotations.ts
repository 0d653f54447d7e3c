// tsrun's own annotations (config.json "annotations"), read at create.
export const INIT_ANNOTATION = 'run.tsrun.init';
export const GRACE_ANNOTATION = 'run.tsrun.init.grace-seconds';
export const PGRP_ANNOTATION = 'run.tsrun.init.process-group';
export const DEFAULT_GRACE_SECONDS = '5';
