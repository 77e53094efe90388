from gprofiler.cli import main

raise SystemExit(main())
