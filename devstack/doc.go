// Package devstack runs the services dev mode needs when none are
// configured: a private PostgreSQL cluster from the machine's own binaries
// (StartPG) and an embedded Redis (StartRedis). It imports no other project
// package; app's StartDev composes it with the rest.
package devstack
