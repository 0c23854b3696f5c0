package urlguard

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/ssmkit/ssmkit/internal/testca"
)

func FuzzCertPool(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("text\n-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, text []byte) {
		certs, err := parseCerts(text)
		if (err == nil) != (len(certs) > 0) {
			t.Errorf("%d certificates and %v", len(certs), err)
		}
	})
}

func ExampleCertPool() {
	_, err := CertPool([]byte("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"))
	fmt.Println(err)
	// Output: CA certificates 1 of 1: PEM block 1 is a "RSA PRIVATE KEY", not a CERTIFICATE
}

func ExampleCheck() {
	for _, raw := range []string{"https://mirror.example/m.json", "http://127.0.0.1:8080/m.json", "http://mirror.example/m.json"} {
		u, _ := url.Parse(raw)
		fmt.Println(Check(u))
	}
	// Output:
	// <nil>
	// <nil>
	// refusing http://mirror.example/m.json: plain http is allowed only to a loopback host; use https
}

func TestCertPool(t *testing.T) {
	ca, other := testca.New(t), testca.New(t)
	pool, err := CertPool(ca.PEM, append([]byte("# a comment\n"), other.PEM...))
	if err != nil {
		t.Fatal(err)
	}
	// Built from the system's pool, not instead of it.
	want, err := x509.SystemCertPool()
	if err != nil {
		t.Fatal(err)
	}
	want.AddCert(ca.Cert)
	want.AddCert(other.Cert)
	if !pool.Equal(want) {
		t.Error("the pool is not the system's plus the given CAs")
	}
	bundle := append(append([]byte{}, ca.PEM...), other.PEM...)
	if _, err := CertPool(bundle); err != nil {
		t.Errorf("a bundle of two: %v", err)
	}
	key := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})
	bad := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not DER")})
	for _, c := range []struct {
		pems [][]byte
		want string
	}{
		{[][]byte{ca.PEM, []byte("not PEM at all")}, "CA certificates 2 of 2: no PEM CERTIFICATE block"},
		{[][]byte{nil}, "CA certificates 1 of 1: no PEM CERTIFICATE block"},
		{[][]byte{append(append([]byte{}, ca.PEM...), key...)}, `CA certificates 1 of 1: PEM block 2 is a "PRIVATE KEY", not a CERTIFICATE`},
		{[][]byte{ca.PEM, ca.PEM, bad}, "CA certificates 3 of 3: PEM block 1: x509:"},
	} {
		if _, err := CertPool(c.pems...); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("CertPool = %v, want %s", err, c.want)
		}
	}
}
