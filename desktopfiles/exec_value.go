package desktopfiles

// ExecValue is args as the value of an Exec key, quoted and escaped per the
// Desktop Entry spec, for entries other than an app's (the tray's own).
func ExecValue(args ...string) string { return escape(execLine(args...), false) }

// StringValue is s escaped as a plain string value (TryExec, Path).
func StringValue(s string) string { return escape(s, false) }
