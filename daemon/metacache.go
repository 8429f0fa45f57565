package daemon

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"

	"github.com/nspawn-tray/nspawn-tray/appmeta"
	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/desktopfiles"
	"github.com/nspawn-tray/nspawn-tray/launcher"
)

// Metadata needs no authorization, so any user can make root read and
// decode images (a 1024x1024 RGBA64 PNG of 8 KB decodes to 8 MB; an image
// may hold thousands of desktop files). The cache answers a repeated call
// from memory while the definition and the image files it was made from
// are unchanged; one extraction per app runs at a time, and at most
// maxExtractions in all, so hostile callers cost a bounded amount of memory
// and CPU and queue behind each other, not in front of Launch.
const (
	maxExtractions = 2
	// maxCacheBytes caps the icons kept; the oldest entries go first.
	maxCacheBytes = 32 << 20
)

type metaResult struct {
	id    string
	entry map[string]dbus.Variant
	icons []launcher.Icon
	sums  [][sha256.Size]byte // of each icon's Data, for MetadataBatch's known icons
	err   error
}

type metaEntry struct {
	stamp   string   // of the definition file and the image's sources
	sources []string // image paths the result came from
	result  metaResult
	size    int
	seq     uint64 // age, for eviction
}

type metaFlight struct {
	done   chan struct{}
	result metaResult
}

type metaCache struct {
	// extractions counts the reads of an image, peak the most at once.
	extractions, active, peak atomic.Int64

	sem      chan struct{}
	mu       sync.Mutex
	entries  map[string]*metaEntry
	inflight map[string]*metaFlight
	bytes    int
	seq      uint64
}

func newMetaCache() *metaCache {
	return &metaCache{sem: make(chan struct{}, maxExtractions), entries: map[string]*metaEntry{},
		inflight: map[string]*metaFlight{}}
}

// metadata reads app's desktop entry and icons from its image. It returns
// only fields of a desktop entry, sanitized, and icons that validated as
// PNG, SVG or XPM, read inside the app's own image (RESOLVE_IN_ROOT).
// Nothing else of the image, and nothing outside it, can come back.
func (s *Service) metadata(appID string) (string, map[string]dbus.Variant, []launcher.Icon, error) {
	id, entry, icons, _, err := s.metadataSums(appID)
	return id, entry, icons, err
}

// metadataSums is metadata with the SHA-256 of each icon's bytes.
func (s *Service) metadataSums(appID string) (string, map[string]dbus.Variant, []launcher.Icon, [][sha256.Size]byte, error) {
	app, err := s.findApp(appID)
	if err != nil {
		return "", nil, nil, nil, err
	}
	img, err := s.image(app)
	if err != nil {
		return "", nil, nil, nil, err
	}
	r := s.meta.get(app, img, s.definitionStamp(app), s.readImage)
	return r.id, r.entry, r.icons, r.sums, r.err
}

// imageReader is Service.readImage: it calls read with the root of an
// image's tree, mounting a raw image for the time of read.
type imageReader func(ctx context.Context, img appImage, read func(root string) error) error

// imageStamp identifies the state of what an extraction from img read.
// For a directory: its path, and each of sources (appmeta.Stamp). For a
// raw image: its path and the file's own identity, device, inode, size,
// modification and change times, since anything that changes inside the
// image changes the file (reading its sources would mean mounting it).
func imageStamp(img appImage, sources []string) string {
	if !img.Raw {
		return img.Path + "\n" + appmeta.Stamp(img.Path, sources)
	}
	var st unix.Stat_t
	if err := unix.Lstat(img.Path, &st); err != nil {
		return img.Path + " raw -"
	}
	return fmt.Sprintf("%s raw %d:%d %d %d.%d %d.%d", img.Path, st.Dev, st.Ino, st.Size,
		st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec)
}

// definitionStamp identifies the definition file's state.
func (s *Service) definitionStamp(app config.App) string {
	var st unix.Stat_t
	if err := unix.Stat(app.File, &st); err != nil {
		return "-"
	}
	return fmt.Sprintf("%d:%d %d %d.%d %d.%d", st.Dev, st.Ino, st.Size, st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec)
}

func (c *metaCache) get(app config.App, img appImage, defStamp string, read imageReader) metaResult {
	for {
		c.mu.Lock()
		e := c.entries[app.ID]
		c.mu.Unlock()
		if e != nil && e.stamp == defStamp+"\n"+imageStamp(img, e.sources) {
			return e.result
		}
		c.mu.Lock()
		if f := c.inflight[app.ID]; f != nil {
			c.mu.Unlock()
			<-f.done
			continue // the fresh entry (or, if it failed, another try)
		}
		f := &metaFlight{done: make(chan struct{})}
		c.inflight[app.ID] = f
		c.mu.Unlock()

		f.result = c.extract(app, img, defStamp, read)
		c.mu.Lock()
		delete(c.inflight, app.ID)
		c.mu.Unlock()
		close(f.done)
		return f.result
	}
}

func (c *metaCache) extract(app config.App, img appImage, defStamp string, read imageReader) metaResult {
	c.sem <- struct{}{}
	defer func() { <-c.sem }()
	c.extractions.Add(1)
	if n := c.active.Add(1); n > c.peak.Load() {
		c.peak.Store(n)
	}
	defer c.active.Add(-1)
	// A raw image is stamped before the read (its file is all there is to
	// stamp): a change during the read shows as a change at the next call.
	rawStamp := ""
	if img.Raw {
		rawStamp = imageStamp(img, nil)
	}
	var m appmeta.Metadata
	err := read(context.Background(), img, func(root string) error {
		var err error
		m, err = appmeta.Extract(root, app.Exec[0], appmeta.Options{DesktopFile: app.Desktop.File})
		return err
	})
	if err != nil {
		// Not cached: a broken image is worth looking at again.
		return metaResult{err: fail(launcher.ErrNameImageMissing, "app %q: %v", app.ID, err)}
	}
	r := metaResult{id: m.DesktopID, entry: launcher.EntryDict(desktopfiles.Sanitize(m.Entry)),
		icons: make([]launcher.Icon, 0, len(m.Icons))}
	size := 0
	for _, i := range m.Icons {
		r.icons = append(r.icons, launcher.Icon(i))
		r.sums = append(r.sums, sha256.Sum256(i.Data))
		size += len(i.Data)
	}
	// A directory's sources are stamped after reading, once they are
	// known.
	stamp := defStamp + "\n" + rawStamp
	if !img.Raw {
		stamp = defStamp + "\n" + imageStamp(img, m.Sources)
	}
	c.store(app.ID, &metaEntry{stamp: stamp, sources: m.Sources, result: r, size: size})
	return r
}

func (c *metaCache) store(id string, e *metaEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.entries[id]; old != nil {
		c.bytes -= old.size
	}
	c.seq++
	e.seq = c.seq
	c.entries[id] = e
	c.bytes += e.size
	for c.bytes > maxCacheBytes && len(c.entries) > 1 {
		oldest := ""
		for k, v := range c.entries {
			if k != id && (oldest == "" || v.seq < c.entries[oldest].seq) {
				oldest = k
			}
		}
		c.bytes -= c.entries[oldest].size
		delete(c.entries, oldest)
	}
}
