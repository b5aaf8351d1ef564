package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"pangolin-gateway/config"
	"pangolin-gateway/gateway"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// certs is a CA with a server and a client certificate, as PEM files.
type certs struct{ ca, serverCert, serverKey, clientCert, clientKey string }

func makeCerts(t *testing.T) certs {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage) (string, string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, _ := x509.MarshalECPrivateKey(key)
		return write(name+".crt", "CERTIFICATE", der), write(name+".key", "EC PRIVATE KEY", keyDER)
	}
	c := certs{ca: write("ca.crt", "CERTIFICATE", caDER)}
	c.serverCert, c.serverKey = leaf("core.test", 2, x509.ExtKeyUsageServerAuth)
	c.clientCert, c.clientKey = leaf("gateway.test", 3, x509.ExtKeyUsageClientAuth)
	return c
}

// TestCoreLinkTLS: with core.tls set on both sides the link is mutual TLS;
// a gateway without a client certificate, or trusting another CA, gets no
// answer from the core.
func TestCoreLinkTLS(t *testing.T) {
	c := makeCerts(t)
	ctx := context.Background()
	_, root, addr := startInProcessCore(t, config.Core{
		Token: testCoreToken,
		TLS:   config.TLS{CertFile: c.serverCert, KeyFile: c.serverKey, CAFile: c.ca},
	})

	verify := func(tls config.TLS) error {
		conn, err := gateway.DialCore(config.Core{Address: addr, Token: testCoreToken, TLS: tls})
		if err != nil {
			return err
		}
		defer conn.Close()
		cctx, ccancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, corev1.MetadataKeyID, root.GetApiKeyId()), 5*time.Second)
		defer ccancel()
		_, err = corev1.NewOrgServiceClient(conn).ListOrgs(cctx, &corev1.ListOrgsRequest{})
		return err
	}
	good := config.TLS{CertFile: c.clientCert, KeyFile: c.clientKey, CAFile: c.ca, ServerName: "core.test"}
	if err := verify(good); err != nil {
		t.Fatalf("mutual TLS call failed: %v", err)
	}
	other := makeCerts(t)
	for name, tls := range map[string]config.TLS{
		"no client certificate":     {CAFile: c.ca, ServerName: "core.test"},
		"client cert of another CA": {CertFile: other.clientCert, KeyFile: other.clientKey, CAFile: c.ca, ServerName: "core.test"},
		"trusting another CA":       {CertFile: c.clientCert, KeyFile: c.clientKey, CAFile: other.ca, ServerName: "core.test"},
		"wrong server name":         {CertFile: c.clientCert, KeyFile: c.clientKey, CAFile: c.ca, ServerName: "elsewhere.test"},
		"plaintext":                 {},
	} {
		if err := verify(tls); err == nil {
			t.Errorf("%s: the core answered", name)
		}
	}
}
