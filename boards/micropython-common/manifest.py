# The branchgate firmware, frozen into flash so its bytecode runs from there instead of the heap.
# All of firmware/ is frozen: the top-level modules (main.py, config.py, ...) and every package, under
# the names the firmware imports them by ("ike.const", "crypto.hmac", ...). A frozen main.py runs in
# place of any main.py on the filesystem, which then holds only /board.json and the configuration
# (`branchgate image build --frozen`).
freeze("../../firmware")
