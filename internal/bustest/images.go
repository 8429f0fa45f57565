package bustest

import (
	"slices"
	"sync"

	"github.com/godbus/dbus/v5"
)

// Image is one image of the fake machined, as ListImages gives it.
type Image struct {
	Name, Type string
	ReadOnly   bool
	// Created and Modified are µs since the epoch.
	Created, Modified uint64
	Usage             uint64
}

// RemoveImageCall is one RemoveImage call.
type RemoveImageCall struct {
	Name string
	// Interactive is the ALLOW_INTERACTIVE_AUTHORIZATION flag.
	Interactive bool
}

type machinedImages struct {
	mu        sync.Mutex
	list      []Image
	removeErr *dbus.Error
	rec       recorder[RemoveImageCall]
}

// ImagePath is the object path of image name.
func ImagePath(name string) dbus.ObjectPath {
	return dbus.ObjectPath("/org/freedesktop/machine1/image/" + Escape(name))
}

// AddImage adds an image (of Type "directory" unless set).
func (m *Machined) AddImage(img Image) {
	if img.Type == "" {
		img.Type = "directory"
	}
	m.images.mu.Lock()
	m.images.list = append(m.images.list, img)
	m.images.mu.Unlock()
}

// ImageNames are the images there are, in the order they were added.
func (m *Machined) ImageNames() []string {
	m.images.mu.Lock()
	defer m.images.mu.Unlock()
	var out []string
	for _, img := range m.images.list {
		out = append(out, img.Name)
	}
	return out
}

// FailRemoveImage makes RemoveImage fail with err (nil: succeed again).
func (m *Machined) FailRemoveImage(err *dbus.Error) {
	m.images.mu.Lock()
	m.images.removeErr = err
	m.images.mu.Unlock()
}

// RemovedImages are the RemoveImage calls so far.
func (m *Machined) RemovedImages() []RemoveImageCall { return m.images.rec.all() }

type imageEntry struct {
	Name, Type        string
	ReadOnly          bool
	Created, Modified uint64
	Usage             uint64
	Path              dbus.ObjectPath
}

func (mm machinedManager) ListImages() ([]imageEntry, *dbus.Error) {
	im := &mm.m.images
	im.mu.Lock()
	defer im.mu.Unlock()
	out := []imageEntry{}
	for _, img := range im.list {
		out = append(out, imageEntry{img.Name, img.Type, img.ReadOnly, img.Created, img.Modified, img.Usage, ImagePath(img.Name)})
	}
	return out, nil
}

func (mm machinedManager) RemoveImage(msg dbus.Message, name string) *dbus.Error {
	im := &mm.m.images
	im.rec.add(RemoveImageCall{Name: name, Interactive: msg.Flags&dbus.FlagAllowInteractiveAuthorization != 0})
	im.mu.Lock()
	defer im.mu.Unlock()
	if im.removeErr != nil {
		return im.removeErr
	}
	i := slices.IndexFunc(im.list, func(img Image) bool { return img.Name == name })
	if i < 0 {
		return dbus.NewError("org.freedesktop.machine1.NoSuchImage", []any{"No image '" + name + "' known"})
	}
	im.list = slices.Delete(im.list, i, i+1)
	return nil
}
