package stats

import (
	"fmt"
	"strings"
	"testing"
)

func TestTemplate(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"*", "*"},
		{"example.com:443", "{authority}"},
		{"/healthz", "/healthz"},
		{"/api/cart/12345/items?x=1&y=2", "/api/cart/{id}/items"},
		{"/api/cart/12345/items#frag", "/api/cart/{id}/items"},
		{"http://shop.local:8080/api/v2/orders/77", "/api/v2/orders/{id}"},
		{"https://shop.local", "/"},
		{"/u/3f2b8c1e-4d5a-4b6c-8d7e-9f0a1b2c3d4e/avatar", "/u/{uuid}/avatar"},
		{"/u/3F2B8C1E-4D5A-4B6C-8D7E-9F0A1B2C3D4E", "/u/{uuid}"},
		{"/blobs/sha256:abc", "/blobs/sha256:abc"},
		{"/blobs/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "/blobs/{hash}"},
		{"/obj/507f1f77bcf86cd799439011", "/obj/{hash}"},
		{"/commit/a1b2c3d4", "/commit/{hash}"},
		{"/reports/2024-01-05/daily", "/reports/{date}/daily"},
		{"/events/2024-01-05T10:00:00Z", "/events/{date}"},
		{"/users/jane.doe@example.com/prefs", "/users/{email}/prefs"},
		{"/invoices/INV-20240105", "/invoices/{id}"},
		{"/customers/cus_NffrFeUf3V2Hib9x", "/customers/{id}"},
		{"/t/dGhpcyBpcyA0MiBieXRlcyBsb25nIQ==", "/t/{id}"},
		{"/static/" + strings.Repeat("x", 80) + ".js", "/static/{id}"},
		// static words, versions and names stay
		{"/api/v1/users/me", "/api/v1/users/me"},
		{"/oauth2/callback", "/oauth2/callback"},
		{"/get-user-profile-v2", "/get-user-profile-v2"},
		{"/decade/facade/accede", "/decade/facade/accede"},
		{"/h264/stream", "/h264/stream"},
		{"/api//double/", "/api//double/"},
		{"/files/report_2023.pdf", "/files/report_2023.pdf"},
	} {
		if got := Template(tc.in); got != tc.want {
			t.Errorf("Template(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTemplateBoundedLength(t *testing.T) {
	long := strings.Repeat("/seg", 1000)
	if got := Template(long); len(got) > maxTemplateLen+len("/…") {
		t.Fatalf("template of %d bytes", len(got))
	}
	long = "/" + strings.Repeat("é", 300)
	got := Template(long)
	if len(got) > maxTemplateLen || !strings.HasSuffix(got, "…") && got != "/{id}" {
		t.Fatalf("template %q", got)
	}
	for i := 0; i < len(got); {
		if !isRuneStart(got[i]) {
			t.Fatalf("cut inside a rune: %q", got)
		}
		i++
	}
}

func TestLimiterFoldsPerService(t *testing.T) {
	l := NewLimiter(3, 2)
	for i := range 3 {
		if tmpl, folded := l.Template("a", fmt.Sprintf("/p%c", 'a'+i)); folded || tmpl == CatchAllPath {
			t.Fatalf("template %d folded early", i)
		}
	}
	if tmpl, folded := l.Template("a", "/new"); !folded || tmpl != CatchAllPath {
		t.Fatalf("4th template: %q folded=%v", tmpl, folded)
	}
	// a known template still passes
	if tmpl, folded := l.Template("a", "/pa?q=1"); folded || tmpl != "/pa" {
		t.Fatalf("known template: %q folded=%v", tmpl, folded)
	}
	// another service has its own budget
	if _, folded := l.Template("b", "/new"); folded {
		t.Fatal("service b folded")
	}
	// service cap
	if tmpl, folded := l.Template("c", "/x"); !folded || tmpl != CatchAllPath {
		t.Fatalf("3rd service: %q folded=%v", tmpl, folded)
	}
	// ids never spend the budget
	l = NewLimiter(2, 0)
	for i := range 10_000 {
		if _, folded := l.Template("s", fmt.Sprintf("/order/%d", i)); folded {
			t.Fatal("numeric ids spent the budget")
		}
	}
}

func FuzzTemplate(f *testing.F) {
	for _, s := range []string{"/a/1", "http://x/y?z", "/é/\x1b[2J", "*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Template(s)
		if len(got) > maxTemplateLen+len("/…") {
			t.Fatalf("Template(%q) is %d bytes", s, len(got))
		}
		if strings.ContainsAny(got, "?#") {
			t.Fatalf("Template(%q) = %q keeps query or fragment", s, got)
		}
		if Template(got) != got && !strings.Contains(got, "…") {
			t.Fatalf("Template not idempotent: %q -> %q -> %q", s, got, Template(got))
		}
	})
}
