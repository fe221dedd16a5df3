package sheets

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"sync"
	"testing"
)

var (
	keyOnce sync.Once
	keyPEM  string
)

// testKey is a freshly generated RSA key in PKCS#8 PEM: a realistic secret to look for in
// error texts.
func testKey(t testing.TB) string {
	t.Helper()
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			panic(err)
		}
		keyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	})
	return keyPEM
}

const testKeyID = "0123456789abcdef0123456789abcdef01234567"

// serviceAccountJSON is a service-account key file as Google issues it.
func serviceAccountJSON(t testing.TB, tokenURI string, edit func(map[string]any)) []byte {
	t.Helper()
	m := map[string]any{
		"type":                        "service_account",
		"project_id":                  "reconciler-test",
		"private_key_id":              testKeyID,
		"private_key":                 testKey(t),
		"client_email":                "reconciler@reconciler-test.iam.gserviceaccount.com",
		"client_id":                   "112233445566778899",
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   tokenURI,
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
		"universe_domain":             "googleapis.com",
	}
	if edit != nil {
		edit(m)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// assertNoSecret fails when err's text holds any part of the key.
func assertNoSecret(t *testing.T, err error, extra ...string) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	secrets := append([]string{testKeyID, "PRIVATE KEY-----\n"}, extra...)
	for _, line := range strings.Split(testKey(t), "\n") {
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
			secrets = append(secrets, line)
		}
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			t.Fatalf("error text leaks a secret (%.12q…): %s", s, msg)
		}
	}
}

func TestDecodeCredentials(t *testing.T) {
	raw := serviceAccountJSON(t, "https://oauth2.googleapis.com/token", nil)
	wrapped := func(s string) string {
		var b strings.Builder
		for len(s) > 76 {
			b.WriteString(s[:76] + "\n")
			s = s[76:]
		}
		return b.String() + s
	}
	inputs := map[string]string{
		"raw":             string(raw),
		"raw with spaces": "\n  " + string(raw) + "  \n",
		"raw with BOM":    "\uFEFF" + string(raw),
		"std base64":      base64.StdEncoding.EncodeToString(raw),
		"raw std base64":  base64.RawStdEncoding.EncodeToString(raw),
		"url base64":      base64.URLEncoding.EncodeToString(raw),
		"raw url base64":  base64.RawURLEncoding.EncodeToString(raw),
		"wrapped base64":  wrapped(base64.StdEncoding.EncodeToString(raw)),
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			got, err := DecodeCredentials(in)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(raw) {
				t.Errorf("decoded %d bytes, want the %d of the key file", len(got), len(raw))
			}
		})
	}
}

func TestDecodeCredentialsErrors(t *testing.T) {
	key := testKey(t)
	sa := func(edit func(map[string]any)) string {
		return string(serviceAccountJSON(t, "https://oauth2.googleapis.com/token", edit))
	}
	tests := []struct {
		name, in, want string
	}{
		{"empty", "  ", "empty"},
		{"not JSON nor base64", "this-is-not-json-nor-base64!", "neither JSON"},
		{"base64 of text", base64.StdEncoding.EncodeToString([]byte("supersecretpassword")), "not a JSON object"},
		{"truncated JSON", sa(nil)[:200], "not valid JSON"},
		{"truncated base64 JSON", base64.StdEncoding.EncodeToString([]byte(sa(nil)[:300])), "not valid JSON"},
		{"JSON array", `["service_account"]`, "not an object"},
		{"no type", sa(func(m map[string]any) { delete(m, "type") }), `no "type"`},
		{"authorized user", sa(func(m map[string]any) { m["type"] = "authorized_user" }), `"authorized_user"`},
		{"unknown type", sa(func(m map[string]any) { m["type"] = "hunter2-secret-type" }), `not "service_account"`},
		{"type not a string", sa(func(m map[string]any) { m["type"] = 7 }), "type is not a string"},
		{"no email, no key", `{"type":"service_account"}`, "lack client_email and private_key"},
		{"key not PEM", sa(func(m map[string]any) { m["private_key"] = "garbage-secret-value-1234567890" }), "not PEM"},
		{"key lost its line breaks", sa(func(m map[string]any) { m["private_key"] = strings.ReplaceAll(key, "\n", "") }), "not PEM"},
		{"PEM but not a key", sa(func(m map[string]any) {
			m["private_key"] = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("not-a-der-key-secret-bytes")}))
		}), "not a PKCS#8 or PKCS#1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeCredentials(tt.in)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q lacks %q", err, tt.want)
			}
			assertNoSecret(t, err, "garbage-secret-value", "hunter2", "supersecretpassword", "this-is-not-json", strings.TrimSpace(tt.in))
		})
	}
}

func TestNewAPIValidates(t *testing.T) {
	loc := santiago(t)
	good := serviceAccountJSON(t, "https://oauth2.googleapis.com/token", nil)
	bad := serviceAccountJSON(t, "", func(m map[string]any) { m["private_key"] = "garbage-secret-value-1234567890" })
	tests := []struct {
		name string
		cfg  APIConfig
		want string
	}{
		{"no id", APIConfig{SheetName: "Operaciones", Location: loc, CredentialsJSON: good}, "GOOGLE_SHEET_ID"},
		{"no sheet", APIConfig{SpreadsheetID: "x", Location: loc, CredentialsJSON: good}, "HOJA_OPERACIONES_NOMBRE"},
		{"no zone", APIConfig{SpreadsheetID: "x", SheetName: "Operaciones", CredentialsJSON: good}, "TIMEZONE"},
		{"no credentials", APIConfig{SpreadsheetID: "x", SheetName: "Operaciones", Location: loc}, "no credentials"},
		{"bad key", APIConfig{SpreadsheetID: "x", SheetName: "Operaciones", Location: loc, CredentialsJSON: bad}, "not PEM"},
		{"relative endpoint", APIConfig{SpreadsheetID: "x", SheetName: "Operaciones", Location: loc, Endpoint: "127.0.0.1:8085"}, "not a full URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewAPI(context.Background(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.want)
			}
			assertNoSecret(t, err, "garbage-secret-value")
		})
	}
	if _, err := NewAPI(context.Background(), APIConfig{SpreadsheetID: "x", SheetName: "Operaciones", Location: loc, CredentialsJSON: good}); err != nil {
		t.Errorf("valid credentials: %v", err)
	}
}

func TestScrub(t *testing.T) {
	raw := serviceAccountJSON(t, "", nil)
	sec := credentialSecrets(raw)
	line := strings.Split(testKey(t), "\n")[3]
	err := sec.scrub(&testErr{"token signing failed near " + line + " with id " + testKeyID})
	assertNoSecret(t, err)
	if !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("scrubbed = %q", err)
	}
	var te *testErr
	if !errors.As(err, &te) {
		t.Error("the scrubbed error no longer wraps the original")
	}
	plain := &testErr{"nothing secret"}
	if sec.scrub(plain) != error(plain) {
		t.Error("an error without secrets was rewrapped")
	}
}

type testErr struct{ s string }

func (e *testErr) Error() string { return e.s }
