package sheets

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// DecodeCredentials reads a service-account key as it may be put in an environment variable:
// the raw JSON, or base64 of it (standard or URL alphabet, with or without padding, line
// breaks allowed). It checks that the result is a JSON object of type service_account with a
// client_email and a PEM private_key. The input is a secret: no error ever quotes it, nor any
// part of it.
func DecodeCredentials(s string) ([]byte, error) {
	s = strings.TrimSpace(strings.TrimPrefix(s, "\uFEFF"))
	if s == "" {
		return nil, errors.New("credentials are empty")
	}
	raw := []byte(s)
	if s[0] != '{' && s[0] != '[' {
		decoded, ok := decodeBase64(s)
		if !ok {
			return nil, errors.New("credentials are neither JSON (no leading '{') nor base64 of it")
		}
		raw = bytes.TrimSpace(decoded)
		if len(raw) == 0 || raw[0] != '{' {
			return nil, errors.New("credentials decoded from base64 are not a JSON object")
		}
	}
	if err := validateCredentials(raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// decodeBase64 tries every base64 flavour on s with white space removed.
func decodeBase64(s string) ([]byte, bool) {
	compact := strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(compact); err == nil {
			return b, true
		}
	}
	return nil, false
}

// serviceAccount holds the fields of a service-account key that are checked.
type serviceAccount struct {
	Type         string `json:"type"`
	ClientEmail  string `json:"client_email"`
	PrivateKey   string `json:"private_key"`
	PrivateKeyID string `json:"private_key_id"`
}

// knownCredentialTypes may be named in errors: they are fixed words, not secrets.
var knownCredentialTypes = map[string]bool{
	"authorized_user": true, "external_account": true, "external_account_authorized_user": true,
	"impersonated_service_account": true, "gdch_service_account": true,
}

// validateCredentials checks a service-account key without echoing any of it.
func validateCredentials(raw []byte) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return fmt.Errorf("credentials are not valid JSON (syntax error at byte %d)", syntax.Offset)
		}
		return errors.New("credentials JSON is not an object")
	}
	if fields == nil {
		return errors.New("credentials JSON is not an object")
	}
	var sa serviceAccount
	for name, dst := range map[string]*string{
		"type": &sa.Type, "client_email": &sa.ClientEmail,
		"private_key": &sa.PrivateKey, "private_key_id": &sa.PrivateKeyID,
	} {
		v, ok := fields[name]
		if !ok {
			continue
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return fmt.Errorf("credentials field %s is not a string", name)
		}
	}
	switch {
	case sa.Type == "":
		return errors.New(`credentials JSON has no "type" (want "service_account": download a key of a service account)`)
	case sa.Type != "service_account" && knownCredentialTypes[sa.Type]:
		return fmt.Errorf("credentials are of type %q, want a service_account key", sa.Type)
	case sa.Type != "service_account":
		return errors.New(`credentials "type" is not "service_account"`)
	}
	var missing []string
	if strings.TrimSpace(sa.ClientEmail) == "" {
		missing = append(missing, "client_email")
	}
	if strings.TrimSpace(sa.PrivateKey) == "" {
		missing = append(missing, "private_key")
	}
	if len(missing) > 0 {
		return fmt.Errorf("service-account credentials lack %s", strings.Join(missing, " and "))
	}
	block, _ := pem.Decode([]byte(sa.PrivateKey))
	if block == nil {
		return errors.New("service-account private_key is not PEM (was the JSON's \\n turned into real line breaks or lost?)")
	}
	if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		if _, err1 := x509.ParsePKCS1PrivateKey(block.Bytes); err1 != nil {
			return errors.New("service-account private_key is PEM but not a PKCS#8 or PKCS#1 private key")
		}
	}
	return nil
}

// secrets are strings that must never appear in an error text; scrub replaces them.
type secrets []string

// credentialSecrets lists the sensitive parts of a service-account key: the key itself, each
// of its lines, its id and the whole JSON.
func credentialSecrets(raw []byte) secrets {
	if len(raw) == 0 {
		return nil
	}
	s := secrets{string(raw)}
	var sa serviceAccount
	if json.Unmarshal(raw, &sa) == nil {
		if sa.PrivateKey != "" {
			s = append(s, sa.PrivateKey)
			for _, line := range strings.Split(sa.PrivateKey, "\n") {
				if line = strings.TrimSpace(line); len(line) >= 16 && !strings.HasPrefix(line, "-----") {
					s = append(s, line)
				}
			}
		}
		if len(sa.PrivateKeyID) >= 8 {
			s = append(s, sa.PrivateKeyID)
		}
	}
	return s
}

// scrub returns err with every secret blanked out of its text; the original stays reachable
// through errors.Is and errors.As. Errors without secrets are returned as they are.
func (s secrets) scrub(err error) error {
	if err == nil || len(s) == 0 {
		return err
	}
	msg := err.Error()
	clean := msg
	for _, secret := range s {
		if secret != "" {
			clean = strings.ReplaceAll(clean, secret, "[redacted]")
		}
	}
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
