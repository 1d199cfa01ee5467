package api

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

// MarshalJSON writes the columns in http_events' order, which predates
// HTTPEvent embedding ConnColumns: the connection columns sit in two places
// (latency and the pod columns after the bodies), and readers may rely on
// it. It leaves HTML characters alone: the encoder that calls it escapes
// them if it wants to (the agent's does not: "<redacted 5 bytes>" stays
// readable). A value receiver, so that values encode in this order too.
func (e HTTPEvent) MarshalJSON() ([]byte, error) { return e.AppendJSON(nil), nil }

// AppendJSON appends the record as MarshalJSON writes it, without a
// trailing newline. The agent calls it per request with -o json: it copies
// nothing and reflects on nothing.
func (e *HTTPEvent) AppendJSON(b []byte) []byte {
	c := &e.ConnColumns
	b = appendHeader(b, &e.Header)
	b = appendInt(b, `,"time_":`, c.Time)
	b = appendInt(b, `,"pid":`, int64(c.PID))
	b = appendStr(b, `,"comm":`, c.Comm)
	b = appendStr(b, `,"local_addr":`, c.LocalAddr)
	b = appendInt(b, `,"local_port":`, int64(c.LocalPort))
	b = appendStr(b, `,"remote_addr":`, c.RemoteAddr)
	b = appendInt(b, `,"remote_port":`, int64(c.RemotePort))
	b = appendStr(b, `,"trace_role":`, c.TraceRole)
	b = appendInt(b, `,"major_version":`, int64(e.MajorVersion))
	b = appendInt(b, `,"minor_version":`, int64(e.MinorVersion))
	b = appendStr(b, `,"req_method":`, e.ReqMethod)
	b = appendStr(b, `,"req_path":`, e.ReqPath)
	b = appendMap(append(b, `,"req_headers":`...), e.ReqHeaders)
	b = appendStr(b, `,"req_body":`, e.ReqBody)
	b = appendInt(b, `,"req_body_size":`, e.ReqBodySize)
	b = appendInt(b, `,"resp_status":`, int64(e.RespStatus))
	b = appendStr(b, `,"resp_message":`, e.RespMessage)
	b = appendMap(append(b, `,"resp_headers":`...), e.RespHeaders)
	b = appendStr(b, `,"resp_body":`, e.RespBody)
	b = appendInt(b, `,"resp_body_size":`, e.RespBodySize)
	b = appendInt(b, `,"latency":`, c.Latency)
	b = appendOmit(b, `,"container_id":`, c.ContainerID)
	b = appendOmit(b, `,"pod_uid":`, c.PodUID)
	b = appendOmit(b, `,"remote_dns":`, c.RemoteDNS)
	b = appendOmit(b, `,"protocol":`, e.Protocol)
	b = appendOmit(b, `,"grpc_status":`, e.GRPCStatus)
	return append(b, '}')
}

// appendHeader opens an object with Header's columns, as encoding/json
// writes them (table always, the others when set). A column added to
// Header must be added here: TestAppendJSONHeaderColumns fails until it is.
func appendHeader(b []byte, h *Header) []byte {
	b = appendStr(append(b, '{'), `"table":`, h.Table)
	if h.V != 0 {
		b = appendInt(b, `,"v":`, int64(h.V))
	}
	if h.Seq != 0 {
		b = strconv.AppendUint(append(b, `,"seq":`...), h.Seq, 10)
	}
	b = appendOmit(b, `,"node":`, h.Node)
	b = appendOmit(b, `,"sample":`, h.Sample)
	if h.SampleRow != nil {
		// Once per kept sample, at the end of a run: encoding/json will do.
		var row bytes.Buffer
		enc := json.NewEncoder(&row)
		enc.SetEscapeHTML(false)
		if enc.Encode(h.SampleRow) == nil {
			b = append(append(b, `,"sample_row":`...), bytes.TrimSuffix(row.Bytes(), []byte{'\n'})...)
		}
	}
	if h.Obs != nil {
		b = appendObs(append(b, `,"obs":`...), h.Obs)
	}
	return b
}

// appendObs writes o as encoding/json does: once per request of a
// recording, so without reflection.
func appendObs(b []byte, o *stats.Observation) []byte {
	b = appendStr(append(b, '{'), `"service":`, o.Service)
	b = appendStr(b, `,"role":`, o.Role)
	b = appendStr(b, `,"method":`, o.Method)
	b = appendStr(b, `,"path":`, o.Path)
	b = appendOmit(b, `,"peer":`, o.Peer)
	b = appendOmit(b, `,"peer_dns":`, o.PeerDNS)
	b = appendInt(b, `,"status":`, int64(o.Status))
	b = appendInt(b, `,"latency":`, o.LatencyNs)
	b = appendInt(b, `,"req_bytes":`, o.ReqBytes)
	b = appendInt(b, `,"resp_bytes":`, o.RespBytes)
	b = appendInt(b, `,"time_":`, o.TimeNs)
	b = appendOmit(b, `,"protocol":`, o.Protocol)
	b = appendOmit(b, `,"class":`, o.Class)
	return append(b, '}')
}

func appendInt(b []byte, key string, v int64) []byte {
	return strconv.AppendInt(append(b, key...), v, 10)
}

func appendStr(b []byte, key, v string) []byte {
	return appendJSONString(append(b, key...), v)
}

// appendOmit is appendStr for an omitempty column.
func appendOmit(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	return appendStr(b, key, v)
}

// appendMap writes m with sorted keys, null when nil, as encoding/json does.
func appendMap(b []byte, m map[string]string) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	var buf [16]string
	keys := buf[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = appendJSONString(append(b, ':'), m[k])
	}
	return append(b, '}')
}

// appendJSONString quotes s as encoding/json does without HTML escaping:
// control bytes escaped, invalid UTF-8 as U+FFFD, U+2028 and U+2029
// escaped (JavaScript line terminators).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			if r == utf8.RuneError {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(append(b, s[start:]...), '"')
}
