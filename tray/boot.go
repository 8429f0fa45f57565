package tray

import (
	"slices"
	"strings"
	"time"

	"github.com/nspawn-tray/nspawn-tray/machines"
)

// maxBootable is the most machines the Machines section lists.
const maxBootable = 20

// machinesSection is the Machines section: the images that can boot
// (those this user cannot look into included: systemd tells when it
// tries), but not the images of apps, which run as apps; a machine that
// runs, failed or starts at boot is listed whatever its image. Each has
// Start, Stop, Start at boot and Status, under a label that says how it
// is doing. Empty when there is none: most users run apps only.
func machinesSection(apps []App, st State, now time.Time) []Item {
	appImages := map[string]bool{}
	for _, a := range apps {
		if a.Image != "" {
			appImages[a.Image] = true
		}
	}
	var shown []machines.Machine
	for _, mc := range st.Bootable {
		active := mc.State != machines.StateStopped || mc.Enabled
		if active || (mc.Boot != machines.BootNo && !appImages[mc.Name]) {
			shown = append(shown, mc)
		}
	}
	if len(shown) == 0 {
		return nil
	}
	slices.SortStableFunc(shown, func(a, b machines.Machine) int { return strings.Compare(a.Name, b.Name) })
	m := []Item{{Key: "machines", Label: "Machines", Disabled: true}}
	switch st.BootAuth {
	case AuthChallenge:
		m = append(m, Item{Key: "machines-note", Label: "Starting and stopping needs an administrator's password", Disabled: true,
			Tooltip: "An administrator can let group nspawn-tray-machines boot chosen machines without one (60-nspawn-tray-machines.rules)"})
	case AuthNo:
		m = append(m, Item{Key: "machines-note", Label: "Starting and stopping needs an administrator", Disabled: true})
	}
	for i, mc := range shown {
		if i == maxBootable {
			m = append(m, Item{Key: "more-bootable", Label: "… more: nspawn-tray machine list", Disabled: true})
			break
		}
		m = append(m, bootItem(mc, st, now))
	}
	return m
}

// bootItem is one machine's submenu. Its entries keep their keys whatever
// the state (Start and Stop are greyed out when they do not apply), so
// the menu updates them in place.
func bootItem(mc machines.Machine, st State, now time.Time) Item {
	running := mc.State == machines.StateRunning || mc.State == machines.StateStarting
	label := ellipsizeTo(mc.Name, maxLabel-20) + " — " + bootState(mc, now)
	tip := "machine " + mc.Name + " (" + machines.Unit(mc.Name) + ")"
	if mc.Boot == machines.BootUnknown && !running {
		tip += "; whether it boots, systemd tells when it tries (only root can look into its image)"
	}
	if mc.Boot == machines.BootNo {
		tip += "; its image has no init"
	}
	ask := ""
	if st.BootAuth == AuthChallenge || st.BootAuth == AuthNo {
		ask = " (asks for an administrator's password)"
	}
	enableAsk := ""
	if st.EnableAuth != AuthYes {
		enableAsk = " (asks for an administrator's password)"
	}
	return Item{Key: "boot:" + mc.Name, Label: label, Tooltip: tip, Children: []Item{
		{ID: "boot-start:" + mc.Name, Label: "Start", Disabled: running || mc.State == machines.StateStopping,
			Tooltip: "Boot " + mc.Name + ", as machinectl start" + ask},
		{ID: "boot-stop:" + mc.Name, Label: "Stop", Disabled: !running,
			Tooltip: "Power " + mc.Name + " off, and terminate it if it does not stop within " + machines.DefaultStopTimeout.String() + ask},
		{ID: "boot-enable:" + mc.Name, Label: "Start at boot", Checkbox: true, Checked: mc.Enabled,
			Tooltip: "Start " + mc.Name + " when the computer starts, as machinectl enable" + enableAsk},
		{ID: "boot-status:" + mc.Name, Label: "Status", Tooltip: "How " + mc.Name + " is doing, with its last log lines"},
	}}
}

// bootState is how the machine is doing in a few words: "running 5m,
// ~12M, CPU 1.234s", "stopped", "failed (exit-code)".
func bootState(mc machines.Machine, now time.Time) string {
	switch mc.State {
	case machines.StateRunning:
		parts := []string{"running " + Age(now.Sub(mc.Since))}
		if mc.Memory != machines.NoValue {
			parts = append(parts, machines.MemoryText(mc))
		}
		if mc.CPU != machines.NoValue {
			parts = append(parts, "CPU "+machines.CPUTime(mc.CPU))
		}
		return strings.Join(parts, ", ")
	case machines.StateFailed:
		if mc.Result != "" {
			return "failed (" + mc.Result + ")"
		}
	}
	return mc.State
}
