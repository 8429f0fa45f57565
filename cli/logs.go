package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/nspawn-tray/nspawn-tray/launcher"
)

func logsFlags(fs *flag.FlagSet) Run {
	follow := fs.Bool("follow", false, "go on printing new lines until the instance ends (Ctrl-C stops)")
	fs.BoolVar(follow, "f", false, aliasOf+"follow")
	lines := fs.Int("lines", 200, "show the last `N` lines (at most 10000)")
	fs.IntVar(lines, "n", 200, aliasOf+"lines")
	return func(e *Env, args []string) error {
		// Options may follow the target too: "logs xterm -f".
		if len(args) > 1 {
			if err := fs.Parse(args[1:]); err != nil {
				return UsageError(flagError(err))
			}
			args = append(args[:1], fs.Args()...)
		}
		if len(args) != 1 {
			return UsageError("want one MACHINE (see 'nspawn-tray ps') or APP")
		}
		if *lines < 0 || *lines > 10000 {
			return UsageError(fmt.Sprintf("--lines %d: want 0 to 10000", *lines))
		}
		target := args[0]
		// The daemon's journalctl writes into a pipe we copy from, not to
		// our stdout itself: when we go (Ctrl-C), the pipe closes and so
		// does journalctl, even with --follow.
		r, w, err := os.Pipe()
		if err != nil {
			return err
		}
		defer r.Close()
		err = withClient(func(c *launcher.Client) error {
			return c.Logs(context.Background(), target, *lines, *follow, w)
		})
		w.Close()
		if err != nil {
			return failed("read the log of "+target, didYouMean(err, target))
		}
		_, err = io.Copy(e.Stdout, r)
		return err
	}
}
