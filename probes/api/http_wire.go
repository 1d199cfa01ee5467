package api

import (
	"bytes"
	"encoding/json"
)

// httpEventWire is http_events' column order, which predates HTTPEvent
// embedding ConnColumns: the connection columns sit in two places (latency
// and the pod columns after the bodies), and readers may rely on it.
type httpEventWire struct {
	Header
	Time         int64             `json:"time_"`
	PID          uint32            `json:"pid"`
	Comm         string            `json:"comm"`
	LocalAddr    string            `json:"local_addr"`
	LocalPort    uint16            `json:"local_port"`
	RemoteAddr   string            `json:"remote_addr"`
	RemotePort   uint16            `json:"remote_port"`
	TraceRole    string            `json:"trace_role"`
	MajorVersion int               `json:"major_version"`
	MinorVersion int               `json:"minor_version"`
	ReqMethod    string            `json:"req_method"`
	ReqPath      string            `json:"req_path"`
	ReqHeaders   map[string]string `json:"req_headers"`
	ReqBody      string            `json:"req_body"`
	ReqBodySize  int64             `json:"req_body_size"`
	RespStatus   int               `json:"resp_status"`
	RespMessage  string            `json:"resp_message"`
	RespHeaders  map[string]string `json:"resp_headers"`
	RespBody     string            `json:"resp_body"`
	RespBodySize int64             `json:"resp_body_size"`
	Latency      int64             `json:"latency"`
	ContainerID  string            `json:"container_id,omitempty"`
	PodUID       string            `json:"pod_uid,omitempty"`
	Protocol     string            `json:"protocol,omitempty"`
	GRPCStatus   string            `json:"grpc_status,omitempty"`
}

// MarshalJSON writes the columns in http_events' order. It leaves HTML
// characters alone: the encoder that calls it escapes them if it wants to
// (the agent's does not: "<redacted 5 bytes>" stays readable).
func (e HTTPEvent) MarshalJSON() ([]byte, error) {
	c := &e.ConnColumns
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(httpEventWire{
		Header: e.Header, Time: c.Time, PID: c.PID, Comm: c.Comm,
		LocalAddr: c.LocalAddr, LocalPort: c.LocalPort, RemoteAddr: c.RemoteAddr, RemotePort: c.RemotePort,
		TraceRole: c.TraceRole, MajorVersion: e.MajorVersion, MinorVersion: e.MinorVersion,
		ReqMethod: e.ReqMethod, ReqPath: e.ReqPath, ReqHeaders: e.ReqHeaders, ReqBody: e.ReqBody, ReqBodySize: e.ReqBodySize,
		RespStatus: e.RespStatus, RespMessage: e.RespMessage, RespHeaders: e.RespHeaders, RespBody: e.RespBody,
		RespBodySize: e.RespBodySize, Latency: c.Latency, ContainerID: c.ContainerID, PodUID: c.PodUID,
		Protocol: e.Protocol, GRPCStatus: e.GRPCStatus,
	})
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'}), err
}
