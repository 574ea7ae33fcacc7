export * from './common.js';
export * from './application-status.js';
export * from './label.js';
export * from './application.js';
export * from './task.js';
export * from './user.js';
export * from './node.js';
export * from './access.js';
