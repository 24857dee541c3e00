// tlogcheck: an independent verifier of signet's transparency log, built on Go's reference
// implementation of signed notes and tiled Merkle logs (golang.org/x/mod/sumdb/note and
// sumdb/tlog). It shares no code with signet. Built by signet-test-support at test time in
// GOPATH mode, offline.
//
// Usage: tlogcheck BASE VKEY < commands
//
// BASE is a directory or an http(s) URL prefix holding checkpoints, proofs and the log's
// tiles (tile/<L>/<N>, tile/entries/<N>, as c2sp.org/tlog-tiles names them). Commands, one
// per line:
//
//	checkpoint REL           verify the signed checkpoint at BASE/REL (note.Open), check its
//	                         origin is the key name, authenticate the tiles of its tree by
//	                         recomputing the root (tlog.TileHashReader, tlog.TreeHash), and
//	                         check every entry bundle against the level-0 tiles
//	proof REL                a c2sp.org/tlog-proof at BASE/REL whose extra data is the entry:
//	                         note.Open on its checkpoint, tlog.CheckRecord on its proof, and
//	                         the proof equal to tlog.ProveRecord's from the tiles
//	consistency M N HASHES   HASHES (comma-separated base64, or -) as a proof that the tree
//	                         of size M (a checkpoint checked before) is a prefix of that of
//	                         size N: tlog.CheckTree, and equal to tlog.ProveTree's
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

var base string

func fetch(rel string) ([]byte, error) {
	if strings.HasPrefix(base, "http://") || strings.HasPrefix(base, "https://") {
		resp, err := http.Get(strings.TrimSuffix(base, "/") + "/" + rel)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			return nil, fmt.Errorf("GET %s: %s", rel, resp.Status)
		}
		return io.ReadAll(resp.Body)
	}
	return os.ReadFile(filepath.Join(base, filepath.FromSlash(rel)))
}

// c2spPath maps Go's sumdb tile path (tile/8/L/N, tile/8/data/N) to tlog-tiles'.
func c2spPath(t tlog.Tile) string {
	p := strings.TrimPrefix(t.Path(), "tile/8/")
	if strings.HasPrefix(p, "data/") {
		p = "entries/" + strings.TrimPrefix(p, "data/")
	}
	return "tile/" + p
}

type tiles struct{}

func (tiles) Height() int { return 8 }
func (tiles) ReadTiles(ts []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(ts))
	for i, t := range ts {
		b, err := fetch(c2spPath(t))
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}
func (tiles) SaveTiles([]tlog.Tile, [][]byte) {}

var verifier note.Verifier
var trees = map[int64]tlog.Tree{}

// openCheckpoint verifies a signed checkpoint and parses its body.
func openCheckpoint(msg []byte) (tlog.Tree, error) {
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		return tlog.Tree{}, err
	}
	lines := strings.SplitN(n.Text, "\n", 4)
	if len(lines) < 4 || lines[0] != verifier.Name() {
		return tlog.Tree{}, fmt.Errorf("origin is not %s", verifier.Name())
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || strconv.FormatInt(size, 10) != lines[1] {
		return tlog.Tree{}, fmt.Errorf("bad size %q", lines[1])
	}
	h, err := tlog.ParseHash(lines[2])
	if err != nil {
		return tlog.Tree{}, err
	}
	return tlog.Tree{N: size, Hash: h}, nil
}

func checkpoint(rel string) error {
	msg, err := fetch(rel)
	if err != nil {
		return err
	}
	tree, err := openCheckpoint(msg)
	if err != nil {
		return err
	}
	hr := tlog.TileHashReader(tree, tiles{})
	if tree.N > 0 {
		th, err := tlog.TreeHash(tree.N, hr)
		if err != nil {
			return err
		}
		if th != tree.Hash {
			return fmt.Errorf("tree hash from tiles %v != checkpoint %v", th, tree.Hash)
		}
	}
	for start := int64(0); start < tree.N; start += 256 {
		w := tree.N - start
		if w > 256 {
			w = 256
		}
		bundle, err := fetch(c2spPath(tlog.Tile{H: 8, L: -1, N: start / 256, W: int(w)}))
		if err != nil {
			return err
		}
		idx := make([]int64, w)
		for i := range idx {
			idx[i] = tlog.StoredHashIndex(0, start+int64(i))
		}
		hashes, err := hr.ReadHashes(idx)
		if err != nil {
			return err
		}
		for i := int64(0); i < w; i++ {
			if len(bundle) < 2 {
				return fmt.Errorf("entry bundle %d truncated", start/256)
			}
			l := int(binary.BigEndian.Uint16(bundle))
			if len(bundle) < 2+l {
				return fmt.Errorf("entry bundle %d truncated", start/256)
			}
			if tlog.RecordHash(bundle[2:2+l]) != hashes[i] {
				return fmt.Errorf("entry %d does not hash to its leaf", start+i)
			}
			bundle = bundle[2+l:]
		}
		if len(bundle) != 0 {
			return fmt.Errorf("entry bundle %d has trailing bytes", start/256)
		}
	}
	trees[tree.N] = tree
	fmt.Printf("ok checkpoint %d\n", tree.N)
	return nil
}

func proof(rel string) error {
	msg, err := fetch(rel)
	if err != nil {
		return err
	}
	head, cp, ok := strings.Cut(string(msg), "\n\n")
	if !ok {
		return fmt.Errorf("no blank line")
	}
	lines := strings.Split(head, "\n")
	if lines[0] != "c2sp.org/tlog-proof@v1" {
		return fmt.Errorf("bad header")
	}
	lines = lines[1:]
	var extra []byte
	if len(lines) > 0 && strings.HasPrefix(lines[0], "extra ") {
		extra, err = base64.StdEncoding.DecodeString(strings.TrimPrefix(lines[0], "extra "))
		if err != nil {
			return err
		}
		lines = lines[1:]
	}
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "index ") {
		return fmt.Errorf("no index")
	}
	index, err := strconv.ParseInt(strings.TrimPrefix(lines[0], "index "), 10, 64)
	if err != nil {
		return err
	}
	var p tlog.RecordProof
	for _, l := range lines[1:] {
		h, err := tlog.ParseHash(l)
		if err != nil {
			return err
		}
		p = append(p, h)
	}
	tree, err := openCheckpoint([]byte(cp))
	if err != nil {
		return err
	}
	if err := tlog.CheckRecord(p, tree.N, tree.Hash, index, tlog.RecordHash(extra)); err != nil {
		return err
	}
	mine, err := tlog.ProveRecord(tree.N, index, tlog.TileHashReader(tree, tiles{}))
	if err != nil {
		return err
	}
	if fmt.Sprint(mine) != fmt.Sprint(p) {
		return fmt.Errorf("proof differs from tlog.ProveRecord's")
	}
	fmt.Printf("ok proof %d in %d\n", index, tree.N)
	return nil
}

func consistency(m, n int64, hashes string) error {
	old, ok1 := trees[m]
	tree, ok2 := trees[n]
	if !ok1 || !ok2 {
		return fmt.Errorf("check the checkpoints of sizes %d and %d first", m, n)
	}
	var p tlog.TreeProof
	if hashes != "-" {
		for _, s := range strings.Split(hashes, ",") {
			h, err := tlog.ParseHash(s)
			if err != nil {
				return err
			}
			p = append(p, h)
		}
	}
	if err := tlog.CheckTree(p, tree.N, tree.Hash, old.N, old.Hash); err != nil {
		return err
	}
	mine, err := tlog.ProveTree(tree.N, old.N, tlog.TileHashReader(tree, tiles{}))
	if err != nil {
		return err
	}
	if fmt.Sprint(mine) != fmt.Sprint(p) {
		return fmt.Errorf("proof differs from tlog.ProveTree's")
	}
	fmt.Printf("ok consistency %d %d\n", m, n)
	return nil
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: tlogcheck BASE VKEY < commands")
		os.Exit(2)
	}
	base = os.Args[1]
	var err error
	verifier, err = note.NewVerifier(os.Args[2])
	if err != nil {
		fmt.Println("FAIL vkey:", err)
		os.Exit(1)
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch {
		case f[0] == "checkpoint" && len(f) == 2:
			err = checkpoint(f[1])
		case f[0] == "proof" && len(f) == 2:
			err = proof(f[1])
		case f[0] == "consistency" && len(f) == 4:
			m, e1 := strconv.ParseInt(f[1], 10, 64)
			n, e2 := strconv.ParseInt(f[2], 10, 64)
			if e1 != nil || e2 != nil {
				err = fmt.Errorf("bad sizes")
			} else {
				err = consistency(m, n, f[3])
			}
		default:
			err = fmt.Errorf("unknown command")
		}
		if err != nil {
			fmt.Printf("FAIL %s: %v\n", sc.Text(), err)
			os.Exit(1)
		}
	}
}
