package otlp

import (
	"strings"
	"testing"
)

func TestParseEndpoint(t *testing.T) {
	good := map[string]Endpoint{
		"http://localhost:4318":       {Host: "localhost:4318"},
		"http://collector":            {Host: "collector:4318"},
		"https://otel.example.com/":   {TLS: true, Host: "otel.example.com:4318"},
		"http://10.0.0.1:9000/otlp/":  {Host: "10.0.0.1:9000", Path: "/otlp"},
		"grpc://localhost":            {GRPC: true, Host: "localhost:4317"},
		"GRPCS://[::1]:4317":          {GRPC: true, TLS: true, Host: "[::1]:4317"},
		"grpc://otel.example.com:443": {GRPC: true, Host: "otel.example.com:443"},
	}
	for in, want := range good {
		got, err := ParseEndpoint(in)
		if err != nil || got != want {
			t.Errorf("ParseEndpoint(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	bad := map[string]string{
		"localhost:4318":                "no scheme",
		"collector":                     "no scheme",
		"ftp://x":                       "unknown scheme",
		"http://":                       "no host",
		"http://h:0":                    "port out of range",
		"http://h:99999":                "port out of range",
		"http://user:pw@h:4318":         "credentials",
		"http://h:4318/?x=1":            "query",
		"grpc://h:4317/v1":              "path",
		"http://h:4318\x7f":             "not a URL",
		"":                              "no scheme",
		"http://h:4318/v1/traces#frag!": "fragment",
	}
	for in, want := range bad {
		_, err := ParseEndpoint(in)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "grpc://HOST:4317") {
			t.Errorf("ParseEndpoint(%q) = %v; want an error about %q with the remedy", in, err, want)
		}
	}
}

func TestEndpointString(t *testing.T) {
	for _, s := range []string{"http://h:1/p", "https://h:2", "grpc://h:3", "grpcs://h:4"} {
		e, err := ParseEndpoint(s)
		if err != nil || e.String() != s {
			t.Errorf("ParseEndpoint(%q).String() = %q, %v", s, e.String(), err)
		}
	}
}
