// Package vocab is the words the wire and its algorithms share: trace
// roles, protocol names and memory verdicts. It imports nothing, so
// probes/api (the records) and its subpackages stats and trend (the
// algorithms the plugin also runs) all import it and none copies another's
// constants.
package vocab

// Trace roles, as in Pixie's trace_role column.
const (
	RoleClient = "client"
	RoleServer = "server"
)

// Protocol names, as in http_stats rows and the trace table. HTTP rows
// leave the protocol empty (older agents and plugins know no other).
const (
	ProtocolRedis = "redis"
	ProtocolDNS   = "dns"
	ProtocolPgSQL = "pgsql"
	ProtocolMySQL = "mysql"
	ProtocolGRPC  = "grpc" // gRPC over HTTP/2, in http_events
	ProtocolAMQP  = "amqp"
	ProtocolKafka = "kafka"
	ProtocolNATS  = "nats"
	ProtocolCQL   = "cql"
)

// titles name the protocols for people, in the order the trace title
// lists them. HTTP rows carry no protocol name.
var titles = [...]struct{ protocol, title string }{
	{"", "HTTP"},
	{ProtocolGRPC, "gRPC"},
	{ProtocolRedis, "Redis"},
	{ProtocolDNS, "DNS"},
	{ProtocolPgSQL, "PostgreSQL"},
	{ProtocolMySQL, "MySQL"},
	{ProtocolAMQP, "AMQP"},
	{ProtocolKafka, "Kafka"},
	{ProtocolNATS, "NATS"},
	{ProtocolCQL, "Cassandra"},
}

// Title is a protocol's name for people ("PostgreSQL") and its rank in
// titles. A protocol without a title is called by its name and ranks last.
func Title(protocol string) (title string, rank int) {
	for i, t := range titles {
		if t.protocol == protocol {
			return t.title, i
		}
	}
	return protocol, len(titles)
}

// Verdicts of a memory trend (MemorySummary.Verdict).
const (
	VerdictLeak    = "leak"    // steady growth a straight line explains well
	VerdictGrowing = "growing" // growth, but not steady enough to call a leak (warming up, levelling off)
	VerdictStable  = "stable"  // no growth worth reporting
	VerdictNoisy   = "noisy"   // moves a lot without a trend (GC sawtooth, bursts) or too little data
)
