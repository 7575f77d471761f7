# Production variant: the board's manifest plus a frozen boot.py that disables Ctrl-C on the console.
include("$(BOARD_DIR)/manifest.py")
module("boot.py", base_path="production")
