/** Test helpers for plugin authors: the contract suite and its checks (`@niwt/runner/testing`). */
export * from './contract-suite.js';
export * from './contract-checks.js';
