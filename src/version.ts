/** The package version, kept in one place for manifests and `wganx --version`. */
export const VERSION = '0.1.0';
