export { startNode, type RunningNode } from './start-node.js';
export { loadConfig, ConfigError, type NodeConfig, type ServeOptions } from './config.js';
