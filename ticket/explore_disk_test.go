package ticket

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// disk is the explorer's model of what a power loss would leave: the
// content of every file as of its last successful sync, and the names in
// the directory as of its last successful fsync. Files are known by an
// identity the explorer gives each file it sees created, not by inode
// number (which the filesystem reuses).
//
// A failed sync follows Linux (PostgreSQL's "fsyncgate", 2018): the
// pages that failed are marked clean although they are not on disk, so a
// later sync that succeeds does not write them. Bytes still equal to
// what failed stay lost (zeros) in the model until rewritten.
type disk struct {
	dir    string
	next   int                 // next identity
	ident  map[uint64]int      // inode number -> identity of the file it is now
	data   map[int][]byte      // identity -> content at its last successful sync
	failed map[int]failedRange // identity -> bytes whose sync failed
	names  map[string]int      // name -> identity, as of the last directory fsync
}

// failedRange is what a failed sync left not on disk.
type failedRange struct {
	from    int64
	content []byte // the file's content at the failed sync
}

func newDisk(dir string) *disk {
	return &disk{dir: dir, ident: map[uint64]int{}, data: map[int][]byte{}, failed: map[int]failedRange{}, names: map[string]int{}}
}

// created gives a new file a fresh identity.
func (d *disk) created(f *os.File) {
	fi, err := f.Stat()
	if err != nil {
		panic(err)
	}
	ino := inode(fi)
	d.next++
	d.ident[ino] = d.next
}

// identOf returns the identity of an open file (files the explorer did
// not see created, such as those of a rebuilt directory, get one now).
func (d *disk) identOf(f *os.File) int {
	fi, err := f.Stat()
	if err != nil {
		panic(err)
	}
	ino := inode(fi)
	id, ok := d.ident[ino]
	if !ok {
		d.next++
		id = d.next
		d.ident[ino] = id
	}
	return id
}

func contentOf(f *os.File) []byte {
	fi, err := f.Stat()
	if err != nil {
		panic(err)
	}
	buf := make([]byte, fi.Size())
	if _, err := f.ReadAt(buf, 0); err != nil && fi.Size() > 0 {
		panic(err)
	}
	return buf
}

// synced records a successful sync of f.
func (d *disk) synced(f *os.File) {
	id := d.identOf(f)
	content := contentOf(f)
	if fr, ok := d.failed[id]; ok {
		// Bytes left as the failed sync saw them were never written.
		for i := fr.from; i < int64(len(fr.content)) && i < int64(len(content)); i++ {
			if content[i] == fr.content[i] {
				content[i] = 0
			}
		}
		delete(d.failed, id)
	}
	d.data[id] = content
}

// writing records a write to f at offset off: the pages written are dirty
// again, so a failed sync no longer hides what is written from there on.
func (d *disk) writing(f *os.File, off int64) {
	id := d.identOf(f)
	if fr, ok := d.failed[id]; ok {
		if cut := max(off, fr.from); cut < int64(len(fr.content)) {
			fr.content = fr.content[:cut]
			d.failed[id] = fr
		}
	}
}

// syncFailed records a failed sync of f.
func (d *disk) syncFailed(f *os.File) {
	id := d.identOf(f)
	d.failed[id] = failedRange{from: int64(len(d.data[id])), content: contentOf(f)}
}

// dirSynced records a successful fsync of the directory.
func (d *disk) dirSynced() {
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		panic(err)
	}
	d.names = map[string]int{}
	for _, de := range entries {
		if strings.HasSuffix(de.Name(), ".lock") {
			continue
		}
		f, err := os.Open(filepath.Join(d.dir, de.Name()))
		if err != nil {
			continue // removed meanwhile
		}
		d.names[de.Name()] = d.identOf(f)
		f.Close()
	}
}

// imageEvent reads an event as a power loss now would leave it, as
// load and readJournal read the files.
func (d *disk) imageEvent(event string) (*Event, error) {
	id, ok := d.names[event+".json"]
	if !ok {
		return nil, fmt.Errorf("%w: %s.json is not durable", ErrNoEvent, event)
	}
	e, err := Decode(d.data[id])
	if err != nil {
		return nil, err
	}
	st := &state{e: e, base: e.Revision}
	st.reindex()
	if id, ok := d.names[event+".journal"]; ok {
		recs, _, _, err := parseJournal(d.data[id], e.Capacity, true)
		if err != nil {
			return nil, fmt.Errorf("journal: %w", err)
		}
		for i := range recs {
			st.apply(&recs[i])
		}
	}
	return st.e, nil
}

// powerLoss replaces the directory's files by what the model says a
// power loss leaves, and returns a description. No store may be running.
func (d *disk) powerLoss() string {
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		panic(err)
	}
	for _, de := range entries {
		if !strings.HasSuffix(de.Name(), ".lock") {
			os.Remove(filepath.Join(d.dir, de.Name()))
		}
	}
	names := make([]string, 0, len(d.names))
	for name := range d.names {
		names = append(names, name)
	}
	sort.Strings(names)
	var desc []string
	for _, name := range names {
		content := d.data[d.names[name]]
		if err := os.WriteFile(filepath.Join(d.dir, name), content, 0o644); err != nil {
			panic(err)
		}
		desc = append(desc, fmt.Sprintf("%s=%dB", name, len(content)))
		if i := bytes.IndexByte(content, 0); i >= 0 {
			desc[len(desc)-1] += fmt.Sprintf("(zeros from %d)", i)
		}
	}
	// What is on disk now is all durable, under new identities.
	d.ident, d.data, d.failed, d.names = map[uint64]int{}, map[int][]byte{}, map[int]failedRange{}, map[string]int{}
	for _, name := range names {
		f, err := os.Open(filepath.Join(d.dir, name))
		if err != nil {
			panic(err)
		}
		d.synced(f)
		f.Close()
	}
	d.dirSynced()
	return strings.Join(desc, " ")
}
