// Package wal makes a pushmap server's markers durable on one machine: a
// write-ahead log with group commit and snapshots in a directory, so that
// every write a feed was told succeeded survives kill -9 and a restart
// (pushmap serve --data-dir).
//
// # What it logs
//
// A Log sits in front of the store (a *server.Server) as the feeds' way in:
// Apply applies a batch to the store, reads back the resulting state of
// every marker the batch touched — its version as the store's version
// rules gave it, its props, and the absolute time it expires — and appends
// those states to the log as one record (length, CRC-32C, body). Records
// are states, not commands: replaying them needs no version rules and no
// clock, the last state of a marker wins, and a removed marker is logged as
// a tombstone. Markers that expire are not logged: a restored marker whose
// expiry has passed is dropped, so a ttl keeps counting in wall time while
// the process is down.
//
// # When a write is acknowledged
//
// Apply returns once the record is written: with FsyncAlways (the default)
// after an fsync that covers it; concurrent Apply calls share one fsync
// (group commit). With FsyncInterval it returns after the write(2), and a
// goroutine fsyncs every Options.Interval: a kill -9 of the process loses
// nothing (the kernel holds the pages), a crash of the machine or a power
// cut loses at most the last interval of acknowledged writes.
//
// Clients may see a batch before it is durable: the store applies it first,
// then it is logged. A crash in between loses a batch that no feed was told
// had succeeded; reconnecting clients get a snapshot without it.
//
// # Files
//
//	wal-<n>.log        the log, one segment per <n>, appended in order
//	snapshot-<n>.snap  every marker's state when segment <n> began
//
// A snapshot is taken once Options.SnapshotBytes of log were written since
// the last one: the log moves to a new segment <n>, the store's markers are
// copied (one lock hold of the store, a copy of each record), written to
// snapshot-<n>.snap.tmp, fsynced and renamed; then older segments and
// snapshots are deleted. Feeds wait only for the move to a new segment.
// Writes that land while the copy is made are in segment <n> too, and
// replaying them over the snapshot gives their last state.
//
// Open restores the store from the newest snapshot and the segments after
// it. A record cut short or failing its CRC at the end of the last segment
// is the write a crash interrupted: it was never acknowledged, so Open
// logs it, truncates the segment there and goes on. The same damage
// anywhere else is an error: the log was corrupted, and Open refuses to
// guess.
//
// After a write or fsync error the Log refuses every later write (the
// store may hold a change the log lacks, and after a failed fsync the
// kernel's pages cannot be trusted): restart the process to recover from
// the log.
package wal
