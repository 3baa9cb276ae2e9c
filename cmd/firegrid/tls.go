package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// devicesTLS writes a development CA and a server certificate it signed,
// for a broker's TLS listener (Mosquitto on 8883 in docker-compose.yml):
// ca.crt is what devices trust, server.crt and server.key what the broker
// serves. Files already there are kept. A deployment uses its own PKI.
func devicesTLS(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("devices tls", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "directory to write ca.crt, server.crt and server.key into")
	hosts := fs.String("host", "localhost,127.0.0.1,mosquitto", "names and addresses the server certificate is for, comma-separated")
	days := fs.Int("days", 825, "validity in days")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out DIR is required")
	}
	paths := []string{filepath.Join(*out, "ca.crt"), filepath.Join(*out, "server.crt"), filepath.Join(*out, "server.key")}
	have := 0
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			have++
		}
	}
	if have == len(paths) {
		fmt.Fprintf(stdout, "TLS files in %s kept\n", *out)
		return nil
	}
	ca, caKey, err := newCert(nil, nil, "firegrid development CA", nil, *days)
	if err != nil {
		return err
	}
	srv, srvKey, err := newCert(ca, caKey, "firegrid MQTT broker", strings.Split(*hosts, ","), *days)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	files := []struct {
		path  string
		block *pem.Block
	}{
		{paths[0], &pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}},
		{paths[1], &pem.Block{Type: "CERTIFICATE", Bytes: srv.Raw}},
		// The broker runs as another user and must read it: a
		// development key only.
		{paths[2], &pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}},
	}
	for _, f := range files {
		if err := writeFileAtomic(f.path, pem.EncodeToMemory(f.block), 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "development CA and server certificate for %s written to %s (devices trust ca.crt)\n", *hosts, *out)
	return nil
}

// newCert makes a P-256 key and a certificate for it: a CA when parent is
// nil, else a server certificate for hosts signed by parent.
func newCert(parent *x509.Certificate, parentKey *ecdsa.PrivateKey, name string, hosts []string, days int) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: name, Organization: []string{"firegrid"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Duration(days) * 24 * time.Hour)}
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		parent, parentKey = tmpl, key
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		for _, h := range hosts {
			if h = strings.TrimSpace(h); h == "" {
				continue
			}
			if ip := net.ParseIP(h); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, h)
			}
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}
