# fish completion for nspawn-tray.
#
# The program itself says what to complete ("nspawn-tray complete -- WORD..."
# prints one candidate a line, a tab before its description, or :dirs or
# :files): its commands and options come from the table --help prints, app
# ids from the definitions apps lists, machines from ps, images from machined.

function __nspawn_tray_complete
    set -l tokens (commandline -opc)
    set -l out ($tokens[1] complete -- $tokens[2..-1] (commandline -ct) 2>/dev/null)
    switch "$out[1]"
        case :dirs
            __fish_complete_directories (commandline -ct)
        case :files
            __fish_complete_path (commandline -ct)
        case '*'
            printf '%s\n' $out
    end
end

complete -c nspawn-tray -f -a '(__nspawn_tray_complete)'
