# bash completion for nspawn-tray.
#
# The program itself says what to complete ("nspawn-tray complete -- WORD..."
# prints one candidate a line, a tab before its description, or :dirs or
# :files): its commands and options come from the table --help prints, app
# ids from the definitions apps lists, machines from ps, images from machined.

_nspawn_tray() {
	local cur prev words cword
	if declare -F _init_completion >/dev/null; then
		# "=" and ":" are part of a word here: --app=xterm, image names.
		_init_completion -n =: || return
	else
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
		cur=${COMP_WORDS[COMP_CWORD]}
	fi
	local out line
	out=$("${words[0]}" complete -- "${words[@]:1:cword}" 2>/dev/null) || return
	COMPREPLY=()
	case $out in
	:dirs)
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -d -- "$cur")
		return
		;;
	:files)
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return
		;;
	esac
	while IFS= read -r line; do
		[ -n "$line" ] && COMPREPLY+=("${line%%$'\t'*}")
	done <<<"$out"
	# An option that ends in "=" wants its value next, without a space.
	[ "${#COMPREPLY[@]}" = 1 ] && [ "${COMPREPLY[0]: -1}" = "=" ] && compopt -o nospace 2>/dev/null
	# bash puts only what follows a "=" or ":" in place of the word (both
	# break words for it): take the part of each candidate before them out.
	if [[ $cur == *=* && $COMP_WORDBREAKS == *=* ]]; then
		COMPREPLY=("${COMPREPLY[@]/#"${cur%"${cur##*=}"}"/}")
	fi
	declare -F __ltrim_colon_completions >/dev/null && __ltrim_colon_completions "$cur"
	return 0
}
complete -F _nspawn_tray nspawn-tray
