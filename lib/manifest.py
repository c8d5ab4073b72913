# Freeze Fieldnode's MQTT v5 client into any MicroPython firmware (micropython-lib
# convention): from your own manifest, `include("<fieldnode>/lib/manifest.py")`, or
# `require("mqtt5")` after `add_library("fieldnode", "<fieldnode>/lib")`.
# The client's adapters need `asyncio`, which every port with networking freezes.
metadata(description="Memory-frugal MQTT v5 client (codec, sans-IO session, asyncio client)",
         license="MIT")

package("mqtt5")
