// Package pulsefilter is a filter of the PulseAudio native protocol, for
// apps that get sound through it from inside their container.
//
// It exists because neither sound server can restrict a client itself:
// PulseAudio runs every command of a client that passed AUTH (LOAD_MODULE
// module-ladspa-sink runs the client's own code inside the user's sound
// server, outside the container), and pipewire-pulse's restricted sockets
// still allow loading modules and killing clients, and a client lifts the
// restriction itself through its property list. So an app's container gets
// a socket of the filter instead of the server's, and the filter, running
// as the user on the host, passes on only what playing (and, in Full mode,
// recording) needs: a list of allowed commands, volume and info only for
// the client's own streams, property lists cleaned, no monitor recording,
// shared memory and descriptor passing turned off so that all audio stays
// on the socket.
//
// The filter is reachable by a hostile app, so it is strict: a control
// packet that does not parse, a frame over 16 MiB or a shared memory frame
// closes that client's connection (and only that one).
package pulsefilter
