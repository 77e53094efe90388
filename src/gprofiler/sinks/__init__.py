"""Where finished profiles go: local files now, the upload client later."""
