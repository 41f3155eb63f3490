/*
 * Prints every struct offset and size fs/fuse/layout.ts uses, as "name value" lines,
 * from the installed libfuse3 headers. tests/fuse_layout_test.ts compiles and runs it
 * and compares; a wrong layout in TypeScript fails CI instead of corrupting requests.
 */
#define FUSE_USE_VERSION 314
#define _FILE_OFFSET_BITS 64
#include <fuse_lowlevel.h>
#include <linux/fuse.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>

#define OFF(t, f) printf("%s.%s %zu\n", #t, #f, offsetof(struct t, f))
#define SIZE(t) printf("%s %zu\n", #t, sizeof(struct t))

static int bit_of(void (*set)(struct fuse_file_info *)) {
  struct fuse_file_info fi;
  memset(&fi, 0, sizeof fi);
  set(&fi);
  const unsigned char *p = (const unsigned char *)&fi;
  for (int i = 0; i < (int)sizeof fi; i++)
    for (int b = 0; b < 8; b++)
      if (p[i] & (1 << b)) return i * 8 + b;
  return -1;
}
static void set_direct_io(struct fuse_file_info *f) { f->direct_io = 1; }
static void set_keep_cache(struct fuse_file_info *f) { f->keep_cache = 1; }
static void set_nonseekable(struct fuse_file_info *f) { f->nonseekable = 1; }

int main(void) {
  SIZE(stat);
  OFF(stat, st_ino); OFF(stat, st_mode); OFF(stat, st_nlink); OFF(stat, st_uid); OFF(stat, st_gid);
  OFF(stat, st_rdev);
  OFF(stat, st_size); OFF(stat, st_blksize); OFF(stat, st_blocks);
  OFF(stat, st_atim); OFF(stat, st_mtim); OFF(stat, st_ctim);
  SIZE(fuse_entry_param);
  OFF(fuse_entry_param, ino); OFF(fuse_entry_param, generation); OFF(fuse_entry_param, attr);
  OFF(fuse_entry_param, attr_timeout); OFF(fuse_entry_param, entry_timeout);
  SIZE(fuse_file_info);
  OFF(fuse_file_info, flags); OFF(fuse_file_info, fh);
  printf("fuse_file_info.direct_io_bit %d\n", bit_of(set_direct_io));
  printf("fuse_file_info.keep_cache_bit %d\n", bit_of(set_keep_cache));
  printf("fuse_file_info.nonseekable_bit %d\n", bit_of(set_nonseekable));
  SIZE(fuse_buf);
  OFF(fuse_buf, size); OFF(fuse_buf, flags); OFF(fuse_buf, mem); OFF(fuse_buf, fd); OFF(fuse_buf, pos);
  SIZE(iovec);
  OFF(iovec, iov_base); OFF(iovec, iov_len);
  SIZE(fuse_args);
  OFF(fuse_args, argc); OFF(fuse_args, argv); OFF(fuse_args, allocated);
  OFF(fuse_ctx, uid); OFF(fuse_ctx, gid); OFF(fuse_ctx, pid); OFF(fuse_ctx, umask);
  SIZE(statvfs);
  OFF(statvfs, f_bsize); OFF(statvfs, f_frsize); OFF(statvfs, f_blocks); OFF(statvfs, f_bfree);
  OFF(statvfs, f_bavail); OFF(statvfs, f_files); OFF(statvfs, f_ffree); OFF(statvfs, f_favail);
  OFF(statvfs, f_namemax);
  OFF(fuse_conn_info, max_write); OFF(fuse_conn_info, max_read); OFF(fuse_conn_info, max_readahead);
  OFF(fuse_conn_info, capable); OFF(fuse_conn_info, want); OFF(fuse_conn_info, max_background);
  OFF(fuse_conn_info, time_gran);
  SIZE(fuse_lowlevel_ops);
  OFF(fuse_lowlevel_ops, init); OFF(fuse_lowlevel_ops, destroy); OFF(fuse_lowlevel_ops, lookup);
  OFF(fuse_lowlevel_ops, forget); OFF(fuse_lowlevel_ops, getattr); OFF(fuse_lowlevel_ops, setattr);
  OFF(fuse_lowlevel_ops, readlink); OFF(fuse_lowlevel_ops, mknod); OFF(fuse_lowlevel_ops, mkdir);
  OFF(fuse_lowlevel_ops, unlink); OFF(fuse_lowlevel_ops, rmdir); OFF(fuse_lowlevel_ops, symlink);
  OFF(fuse_lowlevel_ops, rename); OFF(fuse_lowlevel_ops, link); OFF(fuse_lowlevel_ops, open);
  OFF(fuse_lowlevel_ops, read); OFF(fuse_lowlevel_ops, write); OFF(fuse_lowlevel_ops, flush);
  OFF(fuse_lowlevel_ops, release); OFF(fuse_lowlevel_ops, fsync); OFF(fuse_lowlevel_ops, opendir);
  OFF(fuse_lowlevel_ops, readdir); OFF(fuse_lowlevel_ops, releasedir); OFF(fuse_lowlevel_ops, fsyncdir);
  OFF(fuse_lowlevel_ops, statfs); OFF(fuse_lowlevel_ops, access); OFF(fuse_lowlevel_ops, create);
  OFF(fuse_lowlevel_ops, setxattr); OFF(fuse_lowlevel_ops, getxattr); OFF(fuse_lowlevel_ops, listxattr);
  OFF(fuse_lowlevel_ops, removexattr);
  OFF(fuse_lowlevel_ops, forget_multi); OFF(fuse_lowlevel_ops, fallocate);
  OFF(fuse_lowlevel_ops, readdirplus); OFF(fuse_lowlevel_ops, lseek);
  OFF(fuse_lowlevel_ops, copy_file_range);
  /* The kernel's wire format (directory replies are packed in TypeScript, fs/fuse/dir_replies.ts). */
  SIZE(fuse_attr);
  OFF(fuse_attr, ino); OFF(fuse_attr, size); OFF(fuse_attr, blocks); OFF(fuse_attr, atime);
  OFF(fuse_attr, mtime); OFF(fuse_attr, ctime); OFF(fuse_attr, atimensec); OFF(fuse_attr, mtimensec);
  OFF(fuse_attr, ctimensec); OFF(fuse_attr, mode); OFF(fuse_attr, nlink); OFF(fuse_attr, uid);
  OFF(fuse_attr, gid); OFF(fuse_attr, rdev); OFF(fuse_attr, blksize);
  SIZE(fuse_entry_out);
  OFF(fuse_entry_out, nodeid); OFF(fuse_entry_out, generation); OFF(fuse_entry_out, entry_valid);
  OFF(fuse_entry_out, attr_valid); OFF(fuse_entry_out, entry_valid_nsec);
  OFF(fuse_entry_out, attr_valid_nsec); OFF(fuse_entry_out, attr);
  OFF(fuse_dirent, ino); OFF(fuse_dirent, off); OFF(fuse_dirent, namelen); OFF(fuse_dirent, type);
  OFF(fuse_direntplus, dirent);
  printf("FUSE_NAME_OFFSET %zu\n", FUSE_NAME_OFFSET);
  printf("FUSE_NAME_OFFSET_DIRENTPLUS %zu\n", FUSE_NAME_OFFSET_DIRENTPLUS);
  printf("FUSE_CAP_WRITEBACK_CACHE %d\n", FUSE_CAP_WRITEBACK_CACHE);
  printf("FUSE_CAP_ASYNC_READ %d\n", FUSE_CAP_ASYNC_READ);
  printf("FUSE_CAP_ATOMIC_O_TRUNC %d\n", FUSE_CAP_ATOMIC_O_TRUNC);
  printf("FUSE_CAP_DONT_MASK %d\n", FUSE_CAP_DONT_MASK);
  printf("FUSE_CAP_POSIX_ACL %d\n", FUSE_CAP_POSIX_ACL);
  printf("FUSE_CAP_NO_OPENDIR_SUPPORT %d\n", FUSE_CAP_NO_OPENDIR_SUPPORT);
  printf("FUSE_SET_ATTR_MODE %d\nFUSE_SET_ATTR_UID %d\nFUSE_SET_ATTR_GID %d\nFUSE_SET_ATTR_SIZE %d\n",
         FUSE_SET_ATTR_MODE, FUSE_SET_ATTR_UID, FUSE_SET_ATTR_GID, FUSE_SET_ATTR_SIZE);
  printf("FUSE_SET_ATTR_ATIME %d\nFUSE_SET_ATTR_MTIME %d\nFUSE_SET_ATTR_ATIME_NOW %d\nFUSE_SET_ATTR_MTIME_NOW %d\n",
         FUSE_SET_ATTR_ATIME, FUSE_SET_ATTR_MTIME, FUSE_SET_ATTR_ATIME_NOW, FUSE_SET_ATTR_MTIME_NOW);
  printf("FUSE_SET_ATTR_CTIME %d\n", FUSE_SET_ATTR_CTIME);
  return 0;
}
