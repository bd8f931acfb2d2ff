from nnbook.cli import main

main()
