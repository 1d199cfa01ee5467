package api

import "net/netip"

// Tables of protocols other than HTTP (Pixie's names).
const (
	TableRedisEvents = "redis_events" // one per Redis command with its reply
	TableDNSEvents   = "dns_events"   // one per DNS query with its response
	TablePgSQLEvents = "pgsql_events" // one per PostgreSQL query with its result
	TableMySQLEvents = "mysql_events" // one per MySQL command with its result
	TableAMQPEvents  = "amqp_events"  // one per AMQP method (synchronous ones with their reply)
	TableKafkaEvents = "kafka_events" // one per Kafka request with its response
	TableNATSEvents  = "nats_events"  // one per NATS protocol message (requests with their reply)
	TableCQLEvents   = "cql_events"   // one per Cassandra (CQL) request with its response
)

// ConnColumns are the connection columns the tracker fills in every
// record (http_events writes them in its own order: see HTTPEvent.AppendJSON).
type ConnColumns struct {
	Time       int64  `json:"time_"` // request start, ns since the Unix epoch
	PID        uint32 `json:"pid"`
	Comm       string `json:"comm"`
	LocalAddr  string `json:"local_addr"`
	LocalPort  uint16 `json:"local_port"`
	RemoteAddr string `json:"remote_addr"`
	RemotePort uint16 `json:"remote_port"`
	TraceRole  string `json:"trace_role"`
	Latency    int64  `json:"latency"` // ns, request start to response end
	// Container and pod identity, when the agent knows them (cluster mode).
	ContainerID string `json:"container_id,omitempty"`
	PodUID      string `json:"pod_uid,omitempty"`
	// RemoteDNS is the name whose traced DNS answer on this node gave
	// RemoteAddr (never a reverse lookup); empty when none did.
	RemoteDNS string `json:"remote_dns,omitempty"`
}

// RedisEvent is one Redis command with its reply (Pixie's redis_events).
type RedisEvent struct {
	Header
	ConnColumns
	ReqCmd string `json:"req_cmd"` // command name, upper-cased ("GET", "CONFIG GET")
	// ReqArgs is a JSON array of the arguments, bounded by the body limit;
	// values are redacted unless full data is asked for (AUTH always).
	ReqArgs string `json:"req_args"`
	Resp    string `json:"resp"` // the reply, rendered and bounded the same way
	// RespError is the reply's error prefix ("ERR", "WRONGTYPE") when it is
	// an error reply, else empty.
	RespError string `json:"resp_error,omitempty"`
	ReqBytes  int64  `json:"req_bytes"`
	RespBytes int64  `json:"resp_bytes"`
}

// TableName implements Record.
func (*RedisEvent) TableName() string { return TableRedisEvents }

// DNSEvent is one DNS query with its response (Pixie's dns_events). The
// header and body columns are JSON strings, as in Pixie.
type DNSEvent struct {
	Header
	ConnColumns
	ReqHeader  string `json:"req_header"`
	ReqBody    string `json:"req_body"`
	RespHeader string `json:"resp_header"`
	RespBody   string `json:"resp_body"`
	// Summary columns for aggregation (not in Pixie's table).
	QueryType string `json:"query_type"` // "A", "AAAA", "TYPE65", ...
	QueryName string `json:"query_name"`
	RCode     int    `json:"rcode"`
	RCodeName string `json:"rcode_name"` // "NOERROR", "NXDOMAIN", ...
	ReqBytes  int64  `json:"req_bytes"`
	RespBytes int64  `json:"resp_bytes"`
	// Answers are the A and AAAA addresses of a NOERROR answer, for the
	// agent to name peers by; not a column.
	Answers []netip.Addr `json:"-"`
}

// TableName implements Record.
func (*DNSEvent) TableName() string { return TableDNSEvents }

// PgSQLEvent is one PostgreSQL query with its result (Pixie's
// pgsql_events): a simple Query, or one Execute of the extended protocol
// (a Parse without Execute is a PREPARE), from its first message to the
// ReadyForQuery that ends it.
type PgSQLEvent struct {
	Header
	ConnColumns
	ReqCmd string `json:"req_cmd"` // "QUERY", "EXECUTE", "PREPARE"
	// Req is the query text, bounded by the body limit, with literals
	// replaced by "?" unless full data is asked for. Bind values are
	// never kept.
	Req string `json:"req"`
	// Resp is the command tag ("SELECT 3", "INSERT 0 1") or the error
	// ("ERROR 42P01", with its message under full data).
	Resp string `json:"resp"`
	// Summary columns for aggregation (not in Pixie's table).
	QueryKind     string `json:"query_kind"`     // first keyword: "SELECT", "BEGIN"
	QueryTemplate string `json:"query_template"` // literals replaced, bounded
	SQLState      string `json:"sqlstate,omitempty"`
	ReqBytes      int64  `json:"req_bytes"`
	RespBytes     int64  `json:"resp_bytes"`
}

// TableName implements Record.
func (*PgSQLEvent) TableName() string { return TablePgSQLEvents }

// MySQLEvent is one MySQL/MariaDB command with its result (Pixie's
// mysql_events), up to the result's last packet.
type MySQLEvent struct {
	Header
	ConnColumns
	ReqCmd string `json:"req_cmd"` // "QUERY", "STMT_PREPARE", "STMT_EXECUTE", "PING", ...
	// ReqBody is the query (literals replaced by "?" unless full data is
	// asked for), bounded by the body limit.
	ReqBody    string `json:"req_body"`
	RespStatus string `json:"resp_status"` // "OK", "ERR" or "NONE" (no response expected)
	RespBody   string `json:"resp_body"`   // "1 rows", "affected 2", or the error
	// Summary columns for aggregation (not in Pixie's table).
	QueryKind     string `json:"query_kind"`
	QueryTemplate string `json:"query_template"`
	ErrCode       int    `json:"err_code,omitempty"` // the ERR packet's code (1146, ...)
	ReqBytes      int64  `json:"req_bytes"`
	RespBytes     int64  `json:"resp_bytes"`
}

// TableName implements Record.
func (*MySQLEvent) TableName() string { return TableMySQLEvents }

// AMQPEvent is one AMQP 0-9-1 method (Pixie's amqp_events): a synchronous
// request with the method that answered it (latency from the request to
// its -ok, or to the channel.close/connection.close that refused it), or an
// asynchronous one (basic.publish, basic.deliver, basic.ack: latency 0).
// Message bodies are never kept; connection.start-ok and secure-ok
// (credentials) are never read.
type AMQPEvent struct {
	Header
	ConnColumns
	FrameType  int    `json:"frame_type"` // 1: method
	Channel    int    `json:"channel"`
	ClassID    int    `json:"class_id"`
	MethodID   int    `json:"method_id"`
	Exchange   string `json:"exchange"`
	RoutingKey string `json:"routing_key"`
	QueueName  string `json:"queue_name"`
	// BodySize is the content header's body size of basic.publish,
	// deliver, return and get (its get-ok), else 0.
	BodySize int64 `json:"body_size"`
	// Summary columns for aggregation (not in Pixie's table).
	Method     string `json:"method"`                // "queue.declare"
	RespMethod string `json:"resp_method,omitempty"` // "queue.declare-ok", "channel.close"; empty for asynchronous methods
	// ReplyCode is the code of a close (its own, or the one that answered
	// the request) or of a basic.return; >= 300 is an error.
	ReplyCode int   `json:"reply_code,omitempty"`
	ReqBytes  int64 `json:"req_bytes"`
	RespBytes int64 `json:"resp_bytes"`
}

// TableName implements Record.
func (*AMQPEvent) TableName() string { return TableAMQPEvents }

// KafkaEvent is one Kafka request with its response (Pixie's
// kafka_events), paired by correlation id.
type KafkaEvent struct {
	Header
	ConnColumns
	ReqCmd     string `json:"req_cmd"` // API name: "Produce", "Fetch", "Metadata"
	ClientID   string `json:"client_id"`
	ReqBody    string `json:"req_body"` // a short summary: `{"api_version":9,"topics":["t"]}`
	Resp       string `json:"resp"`     // a short summary: `{"error_code":0}`
	APIKey     int    `json:"api_key"`
	APIVersion int    `json:"api_version"`
	// Summary columns for aggregation (not in Pixie's table).
	Topic     string `json:"topic,omitempty"`      // first topic of Produce/Fetch
	ErrorCode int    `json:"error_code,omitempty"` // first non-zero error code found in the response
	ErrorName string `json:"error_name,omitempty"` // "UNKNOWN_TOPIC_OR_PARTITION", ...
	ReqBytes  int64  `json:"req_bytes"`
	RespBytes int64  `json:"resp_bytes"`
}

// TableName implements Record.
func (*KafkaEvent) TableName() string { return TableKafkaEvents }

// NATSEvent is one NATS protocol message (Pixie's nats_events): a client's
// CONNECT, PUB, HPUB, SUB or UNSUB, a server's INFO, MSG, HMSG or -ERR,
// each one-way (latency 0); a PING with the PONG that answered it; a
// message carrying a reply subject with the message that answered it
// (request-reply); in verbose mode a client's message with its +OK or
// -ERR. Credentials in CONNECT are never kept.
type NATSEvent struct {
	Header
	ConnColumns
	Cmd string `json:"cmd"` // "PUB", "MSG", "SUB", "PING", "-ERR", ...
	// Body is the message's options as JSON: subject, reply_to, sid,
	// queue, bytes, the payload (redacted unless full data is asked for);
	// CONNECT's options without credentials.
	Body string `json:"body"`
	// Resp is the answer: "PONG", "+OK", "-ERR ..." or the reply
	// message's options as JSON; empty for a one-way message.
	Resp string `json:"resp"`
	// Summary columns for aggregation (not in Pixie's table).
	Subject         string `json:"subject,omitempty"`
	SubjectTemplate string `json:"subject_template,omitempty"` // ids and inboxes replaced by "*": "orders.*"
	// Error is the -ERR text (or a no-responders status) that answered
	// the message, or that the server sent on its own.
	Error     string `json:"error,omitempty"`
	ReqBytes  int64  `json:"req_bytes"`
	RespBytes int64  `json:"resp_bytes"`
}

// TableName implements Record.
func (*NATSEvent) TableName() string { return TableNATSEvents }

// CQLEvent is one Cassandra native protocol request with its response
// (Pixie's cql_events), paired by stream id; an EVENT the server pushes
// is a record of its own (latency 0). Credentials (AUTH_RESPONSE) are
// never read.
type CQLEvent struct {
	Header
	ConnColumns
	ReqOp string `json:"req_op"` // "QUERY", "EXECUTE", "BATCH", "STARTUP", ...
	// ReqBody is the statement (literals replaced by "?" unless full data
	// is asked for; an EXECUTE's is its PREPARE's when that was seen), or
	// the options of STARTUP and REGISTER, bounded by the body limit.
	ReqBody  string `json:"req_body"`
	RespOp   string `json:"resp_op"`   // "RESULT", "ERROR", "READY", ...
	RespBody string `json:"resp_body"` // "3 rows", "void", "prepared", or the error and its message
	// Summary columns for aggregation (not in Pixie's table).
	QueryKind     string `json:"query_kind"`     // first keyword: "SELECT", "INSERT"; "BATCH"
	QueryTemplate string `json:"query_template"` // literals replaced, bounded
	ErrorCode     int    `json:"error_code,omitempty"`
	ErrorName     string `json:"error_name,omitempty"` // "Invalid", "Unavailable", "ReadTimeout", ...
	Version       int    `json:"version"`              // protocol version, 3 to 5
	// Compressed: the request or response body was compressed: its
	// statement or result was not read.
	Compressed bool  `json:"compressed,omitempty"`
	ReqBytes   int64 `json:"req_bytes"`
	RespBytes  int64 `json:"resp_bytes"`
}

// TableName implements Record.
func (*CQLEvent) TableName() string { return TableCQLEvents }
