#!/bin/sh
# A live boot has no root= (FCOS's live kernel arguments carry none):
# dracut stops at "empty root= argument" unless a module claims the boot.
# kiln-live.service mounts /sysroot itself.
if getarg coreos.live.rootfs_url= >/dev/null || getarg coreos.liveiso= >/dev/null; then
	root=kiln-live
	rootok=1
fi
