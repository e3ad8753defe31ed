package redisfeed

// SetBeforeSnapshotWrite makes c call f before it encodes a snapshot, on
// the goroutine that writes it (set before Run).
func SetBeforeSnapshotWrite(c *Cluster, f func()) { c.beforeSnapshotWrite = f }
