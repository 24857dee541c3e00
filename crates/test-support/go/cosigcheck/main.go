// cosigcheck: an independent verifier of witness cosignatures (c2sp.org/tlog-cosignature,
// Ed25519, cosignature/v1) on a signed checkpoint, written from the specification on top of
// Go's golang.org/x/mod/sumdb/note (note parsing and the log's Ed25519 signature) and
// crypto/ed25519. It shares no code with signet. Built by signet-test-support at test time in
// GOPATH mode, offline.
//
// Usage: cosigcheck LOG_VKEY WITNESS_VKEY... < checkpoint
//
// The checkpoint must carry a valid signature by the log key and a valid cosignature by every
// witness key given; prints "ok log <name>" and "ok cosignature <name> time <t>" lines.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

type cosigVerifier struct {
	name string
	hash uint32
	key  ed25519.PublicKey
	seen *uint64
}

func (v cosigVerifier) Name() string    { return v.name }
func (v cosigVerifier) KeyHash() uint32 { return v.hash }
func (v cosigVerifier) Verify(msg, sig []byte) bool {
	// timestamped_signature: u64 big-endian POSIX time, then the 64-byte Ed25519 signature.
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig[:8])
	if t == 0 || t > 1<<63-1 {
		return false
	}
	var m bytes.Buffer
	m.WriteString("cosignature/v1\n")
	m.WriteString("time " + strconv.FormatUint(t, 10) + "\n")
	m.Write(msg)
	if !ed25519.Verify(v.key, m.Bytes(), sig[8:]) {
		return false
	}
	*v.seen = t
	return true
}

// parseCosignerKey reads name+hex(keyid)+base64(0x04||key) and checks the key ID is
// SHA-256(name || "\n" || 0x04 || key)[:4].
func parseCosignerKey(vkey string) (cosigVerifier, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return cosigVerifier{}, fmt.Errorf("not name+id+key")
	}
	name, idHex, keyB64 := parts[0], parts[1], parts[2]
	raw, err := base64.StdEncoding.DecodeString(keyB64)
	if err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != 0x04 {
		return cosigVerifier{}, fmt.Errorf("not a type 0x04 Ed25519 key")
	}
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', 0x04})
	h.Write(raw[1:])
	id := h.Sum(nil)[:4]
	if hex.EncodeToString(id) != idHex {
		return cosigVerifier{}, fmt.Errorf("key ID %s is not %x", idHex, id)
	}
	return cosigVerifier{name: name, hash: binary.BigEndian.Uint32(id), key: ed25519.PublicKey(raw[1:]), seen: new(uint64)}, nil
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: cosigcheck LOG_VKEY WITNESS_VKEY... < checkpoint")
		os.Exit(2)
	}
	logV, err := note.NewVerifier(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "log key:", err)
		os.Exit(2)
	}
	verifiers := []note.Verifier{logV}
	var witnesses []cosigVerifier
	for _, a := range os.Args[2:] {
		w, err := parseCosignerKey(a)
		if err != nil {
			fmt.Fprintln(os.Stderr, "witness key:", err)
			os.Exit(2)
		}
		witnesses = append(witnesses, w)
		verifiers = append(verifiers, w)
	}
	msg, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	n, err := note.Open(msg, note.VerifierList(verifiers...))
	if err != nil {
		fmt.Fprintln(os.Stderr, "note.Open:", err)
		os.Exit(1)
	}
	ok := map[string]bool{}
	for _, s := range n.Sigs {
		ok[s.Name+"/"+strconv.FormatUint(uint64(s.Hash), 16)] = true
	}
	if !ok[logV.Name()+"/"+strconv.FormatUint(uint64(logV.KeyHash()), 16)] {
		fmt.Fprintln(os.Stderr, "no valid log signature")
		os.Exit(1)
	}
	fmt.Println("ok log", logV.Name())
	for _, w := range witnesses {
		if !ok[w.name+"/"+strconv.FormatUint(uint64(w.hash), 16)] {
			fmt.Fprintln(os.Stderr, "no valid cosignature by", w.name)
			os.Exit(1)
		}
		fmt.Println("ok cosignature", w.name, "time", *w.seen)
	}
}
