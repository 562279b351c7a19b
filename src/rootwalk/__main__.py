from rootwalk.cli import main

raise SystemExit(main())
