package api

import "strings"

// Record is a per-request record of a traced protocol (http_events,
// redis_events, ...). The tracker fills its connection columns, the agent
// labels, aggregates and emits it, and the plugin counts and passes through
// every table that IsEventTable: no layer lists the record types, so a
// protocol adds its record type here and nothing else in this package.
type Record interface {
	TableName() string // "redis_events": the record's table, ending in EventSuffix
	Head() *Header
	Conn() *ConnColumns
}

// Head returns h, so that code holding any record can stamp its header.
func (h *Header) Head() *Header { return h }

// Conn returns c: the columns the tracker fills in every record.
func (c *ConnColumns) Conn() *ConnColumns { return c }

// EventSuffix ends the table name of every per-request record, as in
// Pixie (http_events, dns_events); no other table ends with it.
const EventSuffix = "_events"

// IsEventTable tells whether table holds per-request records.
func IsEventTable(table string) bool {
	return len(table) > len(EventSuffix) && strings.HasSuffix(table, EventSuffix)
}
