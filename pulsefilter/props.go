package pulsefilter

import "strings"

// Property lists from the client are kept to the keys of the plain
// metadata PulseAudio's own headers define for clients and streams
// (pulse/proplist.h). A list of what to drop would not do: pipewire-pulse
// passes a stream's whole property list on as the properties of its
// PipeWire stream, and PipeWire reads far more from those than such a list
// could keep up with. Among them, in current PipeWire's sources:
// audio.adapt.converter (audioadapter.c instantiates any SPA factory of
// that name), audioconvert.filter-graph.N (audioconvert.c loads a filter
// graph of the installed LADSPA, LV2 or builtin plugins into
// pipewire-pulse), debug.wav-path (audioconvert.c writes a file anywhere),
// media.class (makes a stream a sink or a source that others are routed
// to), stream.capture.sink (WirePlumber routes a capture stream to a sink's
// monitor), target.* and node.* (routing), and pipewire.*
// (pipewire.client.access lifts the client's restriction, message.c
// read_props).
var keepPrefixes = []string{
	"media.",       // name, title, role, icon...
	"application.", // name, id, version, icon, language
	"window.",      // which window plays
	"event.",       // event sounds (libcanberra)
	"format.",      // sample format, rate and channels in format infos
}

// dropPrefixes are exceptions to keepPrefixes.
var dropPrefixes = []string{
	// pipewire-pulse's manager marker (and Monitor, for recording others).
	"media.category",
	// Makes a PipeWire stream a sink or source.
	"media.class",
	// Who the client is: the server learns that from the socket, which
	// is the filter's; the client's word for it is not to be trusted.
	"application.process.",
}

// keepKey reports whether a property from the client reaches the server.
// Besides all that is not listed above, this drops the keys pipewire.*,
// application.process.*, remote.*, node.*, target.*, filter.* (PulseAudio's
// module-filter-apply loads modules for a stream's filter.want and
// filter.apply), module-stream-restore.* and media.category.
func keepKey(k string) bool {
	return hasPrefix(k, keepPrefixes) && !hasPrefix(k, dropPrefixes)
}

func hasPrefix(k string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// cleanValues drops the properties keepKey refuses from every property
// list in vs, format infos' included, and reports whether it dropped any.
func cleanValues(vs []value) bool {
	changed := false
	for i := range vs {
		if vs[i].tag != tagProplist && vs[i].tag != tagFormatInfo {
			continue
		}
		kept := vs[i].props[:0:0]
		for _, p := range vs[i].props {
			if keepKey(p.key) {
				kept = append(kept, p)
			}
		}
		if len(kept) != len(vs[i].props) {
			vs[i].props = kept
			changed = true
		}
	}
	return changed
}
