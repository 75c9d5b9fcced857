// Package rooms owns rooms: shared spaces where members watch sensors together. It keeps
// rooms, memberships and room sensors in the database (ent) and, for the hot paths, in
// an in-memory index that this process keeps in step with every write it makes: who is
// a member with which role, which sensors each room shares, join codes. The index is the
// membership view the sensors domain asks (SharesSensor) when it decides who may watch a
// sensor, so no measurement and no Watch ever waits for the database on account of rooms.
//
// It also owns what lives only in memory: presence (which members have the room open, in
// which tabs and views, renewed by a heartbeat) and the WatchRoom fan-out (a full state
// first, then changes batched over a short window into bounded per-watcher queues).
//
// The rules of who may do what are the policy functions of package auth (CheckRoom,
// CheckMember, CheckAddRoomSensor), fed facts from the index. Join-code lookups are
// rate-limited per client IP, per room and in total (see JoinCodeLimits).
//
// The index is per process: in cluster mode another node's writes reach it through the
// bus seam (cluster.go: the writing node announces the room, the others reload it from
// the database and tell their watchers), and presence is merged from every node's
// presence messages; a single node publishes nothing (nobody is interested).
package rooms
