from vauflow.cli import main

raise SystemExit(main())
